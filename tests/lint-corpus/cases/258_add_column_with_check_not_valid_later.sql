ALTER TABLE orders ADD COLUMN discount numeric;
ALTER TABLE orders ADD CONSTRAINT discount_range CHECK (discount BETWEEN 0 AND 1) NOT VALID;
