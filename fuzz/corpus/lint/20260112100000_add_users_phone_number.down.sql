-- Removes users.phone_number again; the numbers stored in it are lost.

ALTER TABLE users DROP COLUMN IF EXISTS phone_number;
