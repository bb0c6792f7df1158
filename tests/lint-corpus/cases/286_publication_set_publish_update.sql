CREATE TABLE audit_raw (at timestamptz, body jsonb);
CREATE PUBLICATION audit_pub FOR TABLE audit_raw WITH (publish = 'insert');
ALTER PUBLICATION audit_pub SET (publish = 'insert, update, delete');
