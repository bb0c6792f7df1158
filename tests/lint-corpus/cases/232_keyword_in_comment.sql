-- DROP TABLE users; TRUNCATE orders;
/* ALTER TABLE users DROP COLUMN email; */
ALTER TABLE users ADD COLUMN nickname text;
