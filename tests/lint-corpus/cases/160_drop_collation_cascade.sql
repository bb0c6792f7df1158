DROP COLLATION german_phonebook CASCADE;
