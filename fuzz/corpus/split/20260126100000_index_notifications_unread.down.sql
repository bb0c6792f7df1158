-- mgr:no-transaction
-- Drops the unread-notifications index without blocking writes to
-- notifications (DROP INDEX CONCURRENTLY cannot run in a transaction).

DROP INDEX CONCURRENTLY IF EXISTS notifications_user_unread_idx;
