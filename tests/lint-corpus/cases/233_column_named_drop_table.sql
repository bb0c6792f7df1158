ALTER TABLE audit ADD COLUMN drop_table boolean;
