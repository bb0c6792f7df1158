CREATE TABLE regions (id bigint PRIMARY KEY);
ALTER TABLE stores ADD CONSTRAINT stores_region_fk FOREIGN KEY (region_id) REFERENCES regions (id);
