ALTER TABLE users ALTER COLUMN locale SET DEFAULT 'en';
UPDATE users SET locale = 'en' WHERE locale IS NULL;
