DO $$
BEGIN
  EXECUTE 'DROP TABLE legacy_events';
END $$;
