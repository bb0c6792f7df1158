DELETE FROM order_items USING orders;
