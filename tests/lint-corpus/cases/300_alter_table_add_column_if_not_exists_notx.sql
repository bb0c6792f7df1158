-- mgr:no-transaction
ALTER TABLE users ADD COLUMN IF NOT EXISTS locale text;
