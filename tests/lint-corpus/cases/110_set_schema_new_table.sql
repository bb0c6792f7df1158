CREATE TABLE staging_rows (id bigint);
ALTER TABLE staging_rows SET SCHEMA staging;
