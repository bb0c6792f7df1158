DO $$
BEGIN
  DELETE FROM sessions;
END $$;
