ALTER PUBLICATION app_pub ADD TABLE page_views;
