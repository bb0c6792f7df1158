CREATE FUNCTION reset_table(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('TRUNCATE TABLE %I', t);
END $$;
SELECT reset_table('page_views');
