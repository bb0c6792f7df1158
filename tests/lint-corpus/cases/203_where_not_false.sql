UPDATE products SET active = false WHERE NOT false;
