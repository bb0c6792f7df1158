DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'id' AND data_type = 'integer') THEN
    ALTER TABLE events ALTER COLUMN id TYPE bigint;
  END IF;
END $$;
