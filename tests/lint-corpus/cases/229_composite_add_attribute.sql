ALTER TYPE address ADD ATTRIBUTE country_code text;
