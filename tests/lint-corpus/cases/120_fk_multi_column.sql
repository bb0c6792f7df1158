ALTER TABLE line_items ADD FOREIGN KEY (order_id, shop_id) REFERENCES orders (id, shop_id) ON DELETE CASCADE;
