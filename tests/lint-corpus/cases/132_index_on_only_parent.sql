CREATE INDEX measurements_logdate_idx ON ONLY measurements (logdate);
