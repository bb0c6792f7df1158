DELETE FROM carts WHERE 'x' = 'x';
