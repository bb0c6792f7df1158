UPDATE accounts SET frozen = true WHERE id = id AND true;
