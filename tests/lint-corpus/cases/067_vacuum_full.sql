-- mgr:no-transaction
VACUUM FULL orders;
