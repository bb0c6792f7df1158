DO $$
BEGIN
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', 'reporting', 'analyst');
END $$;
