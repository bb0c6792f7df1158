CREATE MATERIALIZED VIEW weekly_totals AS SELECT date_trunc('week', created_at) AS week, sum(total) FROM orders GROUP BY 1;
