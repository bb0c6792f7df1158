DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'events_%' LOOP
    EXECUTE format('CREATE INDEX %I ON %I (created_at)', r.tablename || '_created_idx', r.tablename);
  END LOOP;
END $$;
