ALTER TABLE users ENABLE TRIGGER users_touch;
