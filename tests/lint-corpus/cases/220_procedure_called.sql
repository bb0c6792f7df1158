CREATE PROCEDURE backfill_all() LANGUAGE plpgsql AS $$
BEGIN
  UPDATE orders SET total_cents = total * 100;
END $$;
CALL backfill_all();
