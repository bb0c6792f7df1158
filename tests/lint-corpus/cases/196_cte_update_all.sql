WITH changed AS (UPDATE users SET newsletter = false RETURNING id)
SELECT count(*) FROM changed;
