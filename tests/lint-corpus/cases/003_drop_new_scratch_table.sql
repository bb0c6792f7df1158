CREATE TABLE scratch_import (id bigint, payload jsonb);
INSERT INTO scratch_import SELECT id, to_jsonb(o) FROM orders o WHERE o.id < 100;
DROP TABLE scratch_import;
