CREATE TABLE t (id bigint PRIMARY KEY, s text DEFAULT 'a;b');
INSERT INTO t VALUES (1, $$x;y$$);
-- c;
/* ; */ SELECT 1;
