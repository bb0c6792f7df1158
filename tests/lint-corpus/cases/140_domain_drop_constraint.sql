ALTER DOMAIN us_postal_code DROP CONSTRAINT us_postal_code_format;
