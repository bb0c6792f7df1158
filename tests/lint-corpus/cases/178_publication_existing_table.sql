CREATE PUBLICATION events_pub FOR TABLE events_raw;
