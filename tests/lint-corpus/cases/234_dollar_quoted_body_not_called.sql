CREATE FUNCTION danger_text() RETURNS text LANGUAGE sql AS $$ SELECT 'TRUNCATE orders' $$;
