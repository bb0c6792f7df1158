INSERT INTO release_notes (body) VALUES ('We no longer DROP TABLE users; DELETE FROM audit_log is gone too');
