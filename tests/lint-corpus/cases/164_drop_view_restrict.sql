DROP VIEW IF EXISTS active_users_v1;
