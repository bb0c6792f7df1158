CREATE FUNCTION wipe_tokens() RETURNS void LANGUAGE sql AS $$ DELETE FROM api_tokens $$;
SELECT wipe_tokens();
