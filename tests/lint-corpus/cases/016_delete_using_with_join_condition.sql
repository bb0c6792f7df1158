DELETE FROM order_items oi USING orders o WHERE oi.order_id = o.id AND o.status = 'cancelled';
