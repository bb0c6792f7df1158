CREATE STATISTICS orders_region_store (dependencies) ON region_id, store_id FROM orders;
