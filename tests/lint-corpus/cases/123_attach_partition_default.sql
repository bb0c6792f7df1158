ALTER TABLE orders_by_region ATTACH PARTITION orders_other DEFAULT;
