CREATE DOMAIN sku_code AS text;
ALTER DOMAIN sku_code ADD CONSTRAINT sku_code_len CHECK (length(VALUE) <= 32);
