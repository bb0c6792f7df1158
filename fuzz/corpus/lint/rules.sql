-- mgr:allow drop-column reason: legacy
ALTER TABLE users DROP COLUMN email;
CREATE INDEX i ON t (x);
ALTER TABLE t ALTER COLUMN c TYPE bigint;
ALTER TABLE t ADD COLUMN d int NOT NULL DEFAULT now();
UPDATE t SET x = 1;
DROP TABLE old;
