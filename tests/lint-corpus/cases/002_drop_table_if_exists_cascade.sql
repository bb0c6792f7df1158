DROP TABLE IF EXISTS legacy.invoice_lines CASCADE;
