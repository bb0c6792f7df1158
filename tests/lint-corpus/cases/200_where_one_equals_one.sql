UPDATE accounts SET balance = 0 WHERE 1 = 1;
