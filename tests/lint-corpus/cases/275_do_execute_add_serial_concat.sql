DO $$
DECLARE
  tbl text := 'legacy_rows';
BEGIN
  EXECUTE 'ALTER TABLE ' || quote_ident(tbl) || ' ADD COLUMN row_no serial';
END $$;
