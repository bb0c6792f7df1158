SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE 'tmp_%';
