CREATE TABLE tmp_orders_v2 (id bigint);
ALTER TABLE tmp_orders_v2 RENAME TO orders_v2;
