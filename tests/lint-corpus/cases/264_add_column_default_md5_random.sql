ALTER TABLE users ADD COLUMN salt text DEFAULT md5(random()::text);
