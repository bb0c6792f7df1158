DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM plans WHERE code = 'team') THEN
    INSERT INTO plans (code, name) VALUES ('team', 'Team');
  END IF;
END $$;
