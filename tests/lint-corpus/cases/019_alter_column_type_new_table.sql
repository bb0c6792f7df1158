CREATE TABLE metrics (id bigint, value int);
ALTER TABLE metrics ALTER COLUMN value TYPE bigint;
