ALTER TABLE invoices ADD COLUMN note text;
UPDATE settings SET value = '2' WHERE key = 'schema_version';
