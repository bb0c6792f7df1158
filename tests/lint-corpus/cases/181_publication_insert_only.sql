CREATE PUBLICATION audit_pub FOR TABLE audit_log WITH (publish = 'insert');
