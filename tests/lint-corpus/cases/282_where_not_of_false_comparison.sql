DELETE FROM temp_tokens WHERE NOT (1 = 0);
