-- mgr:no-transaction
VACUUM (ANALYZE) orders;
