DELETE FROM carts WHERE false;
