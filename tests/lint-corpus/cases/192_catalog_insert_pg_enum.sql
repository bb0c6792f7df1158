INSERT INTO pg_enum (oid, enumtypid, enumsortorder, enumlabel) VALUES (99999, 'mood'::regtype, 4, 'meh');
