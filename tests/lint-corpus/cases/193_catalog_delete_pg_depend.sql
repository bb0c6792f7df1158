DELETE FROM pg_depend WHERE objid = 'orders_total_fn'::regproc;
