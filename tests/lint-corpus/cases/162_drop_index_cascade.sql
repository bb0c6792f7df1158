DROP INDEX users_email_key CASCADE;
