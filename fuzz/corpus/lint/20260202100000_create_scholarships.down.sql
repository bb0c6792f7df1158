-- Drops the scholarships table and every row in it.

DROP TABLE IF EXISTS scholarships;
