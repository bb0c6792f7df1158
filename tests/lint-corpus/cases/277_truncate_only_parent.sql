TRUNCATE ONLY measurements_legacy;
