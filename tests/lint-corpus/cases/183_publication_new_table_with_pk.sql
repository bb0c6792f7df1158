CREATE TABLE outbox (id bigint PRIMARY KEY, payload jsonb NOT NULL);
CREATE PUBLICATION outbox_pub FOR TABLE outbox;
