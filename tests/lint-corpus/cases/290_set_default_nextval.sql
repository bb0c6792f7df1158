ALTER TABLE tickets ALTER COLUMN number SET DEFAULT nextval('ticket_numbers');
