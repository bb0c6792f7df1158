-- mgr:no-transaction
CREATE TABLE IF NOT EXISTS webhooks (id bigint PRIMARY KEY, url text NOT NULL);
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhooks_url_idx ON webhooks (url);
