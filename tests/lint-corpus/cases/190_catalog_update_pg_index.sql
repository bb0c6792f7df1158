UPDATE pg_catalog.pg_index SET indisvalid = true WHERE indexrelid = 'orders_user_idx'::regclass;
