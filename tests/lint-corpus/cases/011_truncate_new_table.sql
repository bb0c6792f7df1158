CREATE TABLE staging_prices (sku text, price numeric);
TRUNCATE staging_prices;
