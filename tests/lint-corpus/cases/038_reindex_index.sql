REINDEX INDEX orders_user_idx;
