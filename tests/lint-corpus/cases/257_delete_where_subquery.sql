DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL);
