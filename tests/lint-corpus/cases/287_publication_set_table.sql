CREATE TABLE click_log (at timestamptz, target text);
ALTER PUBLICATION app_pub SET TABLE orders, click_log;
