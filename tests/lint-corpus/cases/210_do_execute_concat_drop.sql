DO $$
DECLARE
  t text := 'legacy_events';
BEGIN
  EXECUTE 'DROP TABLE ' || quote_ident(t);
END $$;
