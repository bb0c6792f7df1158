ALTER PUBLICATION audit_pub SET (publish = 'insert, update, delete');
