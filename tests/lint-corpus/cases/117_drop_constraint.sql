ALTER TABLE orders DROP CONSTRAINT qty_positive;
