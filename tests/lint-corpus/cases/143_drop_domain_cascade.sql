DROP DOMAIN us_postal_code CASCADE;
