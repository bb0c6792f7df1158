DROP FUNCTION IF EXISTS normalize_email(text);
