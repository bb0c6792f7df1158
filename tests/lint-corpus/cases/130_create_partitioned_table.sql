CREATE TABLE page_hits (at timestamptz NOT NULL, path text) PARTITION BY RANGE (at);
