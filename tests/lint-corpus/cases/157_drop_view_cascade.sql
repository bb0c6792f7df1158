DROP VIEW active_users CASCADE;
