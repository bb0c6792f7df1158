ALTER TABLE orders ADD COLUMN currency text;
UPDATE orders SET currency = 'EUR';
