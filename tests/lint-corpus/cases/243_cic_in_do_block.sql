-- mgr:no-transaction
DO $$
BEGIN
  CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at);
END $$;
