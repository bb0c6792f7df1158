ALTER TABLE shipments ADD CONSTRAINT ship_dates CHECK (shipped_at IS NULL OR shipped_at >= ordered_at);
