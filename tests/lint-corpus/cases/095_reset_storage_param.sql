ALTER TABLE events RESET (fillfactor);
