CREATE TABLE import_batch (id bigint);
LOCK TABLE import_batch IN ACCESS EXCLUSIVE MODE;
