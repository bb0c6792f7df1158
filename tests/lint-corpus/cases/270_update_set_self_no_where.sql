UPDATE products SET name = name;
