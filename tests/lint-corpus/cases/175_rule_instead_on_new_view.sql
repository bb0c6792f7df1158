CREATE VIEW recent_orders AS SELECT * FROM orders WHERE created_at > now() - interval '30 days';
CREATE RULE recent_orders_ins AS ON INSERT TO recent_orders DO INSTEAD INSERT INTO orders VALUES (NEW.*);
