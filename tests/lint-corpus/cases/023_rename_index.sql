ALTER INDEX orders_user_idx RENAME TO orders_user_id_idx;
