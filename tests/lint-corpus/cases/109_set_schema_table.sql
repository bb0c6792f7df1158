ALTER TABLE invoices SET SCHEMA billing;
