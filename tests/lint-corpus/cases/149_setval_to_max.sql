SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));
