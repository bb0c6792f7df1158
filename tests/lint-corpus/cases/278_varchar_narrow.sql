ALTER TABLE users ALTER COLUMN country TYPE varchar(2);
