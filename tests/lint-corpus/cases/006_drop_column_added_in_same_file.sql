ALTER TABLE users ADD COLUMN tmp_marker boolean;
ALTER TABLE users DROP COLUMN tmp_marker;
