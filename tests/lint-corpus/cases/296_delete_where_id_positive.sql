DELETE FROM import_rows WHERE batch_id = 42 AND id > 0;
