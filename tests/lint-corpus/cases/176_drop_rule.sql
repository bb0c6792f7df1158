DROP RULE IF EXISTS keep_orders ON orders;
