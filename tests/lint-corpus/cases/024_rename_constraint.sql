ALTER TABLE orders RENAME CONSTRAINT orders_qty_check TO orders_qty_positive;
