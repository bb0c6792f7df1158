CREATE TABLE page_view_log (path text, seen_at timestamptz);
ALTER PUBLICATION app_pub ADD TABLE page_view_log;
