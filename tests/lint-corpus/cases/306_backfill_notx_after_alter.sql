-- mgr:no-transaction
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text;
UPDATE orders SET currency = 'EUR' WHERE currency IS NULL AND id < 100000;
