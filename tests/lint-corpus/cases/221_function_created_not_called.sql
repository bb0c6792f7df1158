CREATE OR REPLACE FUNCTION purge_old_carts() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM carts WHERE updated_at < now() - interval '1 year';
END $$;
