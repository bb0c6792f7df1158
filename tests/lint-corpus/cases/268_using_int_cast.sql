ALTER TABLE imports ALTER COLUMN row_count SET DATA TYPE integer USING row_count::integer;
