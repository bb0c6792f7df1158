DO $$
BEGIN
  EXECUTE format('TRUNCATE %I.%I', 'staging', 'imports');
END $$;
