ALTER MATERIALIZED VIEW daily_totals RENAME TO daily_revenue;
