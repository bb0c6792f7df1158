CREATE TABLE shipments (id bigint PRIMARY KEY, order_id bigint);
CREATE INDEX shipments_order_idx ON shipments (order_id);
