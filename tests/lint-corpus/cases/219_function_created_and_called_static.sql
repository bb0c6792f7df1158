CREATE OR REPLACE FUNCTION purge_carts() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM carts;
END $$;
SELECT purge_carts();
