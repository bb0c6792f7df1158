ALTER DOMAIN us_postal_code ADD CONSTRAINT us_postal_code_format CHECK (VALUE ~ '^\d{5}$');
