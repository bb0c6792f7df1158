CREATE TABLE feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL DEFAULT false);
INSERT INTO feature_flags (name) VALUES ('new_checkout');
UPDATE feature_flags SET enabled = true WHERE name = 'new_checkout';
