ALTER TABLE import_buffer SET LOGGED;
