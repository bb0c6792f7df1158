ALTER DOMAIN email_address SET DEFAULT '';
