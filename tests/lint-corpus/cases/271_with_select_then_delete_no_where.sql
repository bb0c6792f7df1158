WITH keep AS (SELECT 1) DELETE FROM cart_items;
