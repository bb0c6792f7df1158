ALTER PUBLICATION app_pub SET TABLE orders, page_views;
