CREATE TABLE cold_events (id bigint, at timestamptz);
ALTER TABLE cold_events SET TABLESPACE archive_disk;
