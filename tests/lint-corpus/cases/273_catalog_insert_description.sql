INSERT INTO pg_catalog.pg_description (objoid, classoid, objsubid, description) VALUES ('orders'::regclass, 'pg_class'::regclass, 0, 'orders');
