ALTER TABLE orders ALTER COLUMN status SET STATISTICS 500;
UPDATE orders SET status = 'paid' WHERE id = 42;
