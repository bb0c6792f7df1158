DROP TRIGGER IF EXISTS users_touch ON users;
