DO $$
DECLARE
  col text := 'email';
BEGIN
  EXECUTE format('ALTER TABLE users ALTER COLUMN %I SET NOT NULL', col);
END $$;
