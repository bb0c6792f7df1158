ALTER TABLE orders OWNER TO app_owner;
