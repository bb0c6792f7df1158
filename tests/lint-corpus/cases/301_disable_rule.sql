ALTER TABLE orders DISABLE RULE keep_orders;
