DELETE FROM orders WHERE status = 'draft' OR true;
