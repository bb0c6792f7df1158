ALTER TABLE events SET TABLESPACE archive_disk;
