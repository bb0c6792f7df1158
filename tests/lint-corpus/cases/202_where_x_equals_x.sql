DELETE FROM customers WHERE id = id;
