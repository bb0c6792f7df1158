COMMENT ON COLUMN orders.status IS 'pending, paid, shipped';
