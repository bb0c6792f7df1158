UPDATE pg_attribute SET attnotnull = true WHERE attrelid = 'users'::regclass AND attname = 'email';
