-- mgr:no-transaction
-- Speeds up the unread-notifications badge (WHERE user_id = $1 AND read_at IS
-- NULL) with a small partial index. Built CONCURRENTLY so inserts of new
-- notifications keep flowing; that cannot run inside a transaction, hence
-- the no-transaction directive. If a build fails it leaves an INVALID index:
-- drop it (see the down file) and run this again.

CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_user_unread_idx
    ON notifications (user_id, created_at DESC)
    WHERE read_at IS NULL;
