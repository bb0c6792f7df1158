WITH moved AS (DELETE FROM sessions RETURNING *)
INSERT INTO sessions_archive SELECT * FROM moved;
