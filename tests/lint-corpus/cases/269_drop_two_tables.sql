DROP TABLE old_sessions, old_tokens;
