CREATE FUNCTION new_public_id() RETURNS text LANGUAGE sql AS $$ SELECT md5(random()::text) $$;
ALTER TABLE orders ADD COLUMN public_id text DEFAULT new_public_id();
