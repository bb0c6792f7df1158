CREATE TABLE events_raw (received_at timestamptz NOT NULL, payload jsonb);
CREATE PUBLICATION events_pub FOR TABLE events_raw;
