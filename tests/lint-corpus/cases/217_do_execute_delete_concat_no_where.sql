DO $$
DECLARE
  t text := 'cache_entries';
BEGIN
  EXECUTE 'DELETE FROM ' || t;
END $$;
