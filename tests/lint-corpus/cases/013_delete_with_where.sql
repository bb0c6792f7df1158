DELETE FROM audit_log WHERE created_at < '2020-01-01';
