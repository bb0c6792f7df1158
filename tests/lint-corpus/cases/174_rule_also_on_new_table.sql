CREATE TABLE price_log (sku text, price numeric);
CREATE TABLE prices (sku text PRIMARY KEY, price numeric);
CREATE RULE log_price AS ON UPDATE TO prices DO ALSO INSERT INTO price_log VALUES (NEW.sku, NEW.price);
