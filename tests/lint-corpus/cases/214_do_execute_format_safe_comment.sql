DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE format('COMMENT ON TABLE %I IS %L', t, 'owned by the platform team');
  END LOOP;
END $$;
