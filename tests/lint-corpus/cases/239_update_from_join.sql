UPDATE orders o SET region_id = s.region_id FROM stores s WHERE s.id = o.store_id AND o.region_id IS NULL;
