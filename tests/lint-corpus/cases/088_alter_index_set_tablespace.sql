ALTER INDEX events_created_idx SET TABLESPACE fast_ssd;
