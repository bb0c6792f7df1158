DELETE FROM carts WHERE 1 = 1 AND updated_at < now() - interval '1 year';
