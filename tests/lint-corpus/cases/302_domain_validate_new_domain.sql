CREATE DOMAIN order_code AS text;
ALTER DOMAIN order_code ADD CONSTRAINT order_code_len CHECK (length(VALUE) = 8) NOT VALID;
ALTER DOMAIN order_code VALIDATE CONSTRAINT order_code_len;
