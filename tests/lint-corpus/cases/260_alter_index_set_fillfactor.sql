ALTER INDEX orders_user_idx SET (fillfactor = 80);
