WITH moved AS (DELETE FROM sessions WHERE expires_at < now() - interval '90 days' RETURNING *)
INSERT INTO sessions_archive SELECT * FROM moved;
