ALTER TABLE orders CLUSTER ON orders_created_idx;
