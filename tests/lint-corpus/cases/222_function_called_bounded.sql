CREATE FUNCTION archive_old_orders() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO orders_archive SELECT * FROM orders WHERE created_at < '2015-01-01';
END $$;
SELECT archive_old_orders();
