ALTER TABLE accounts DROP COLUMN IF EXISTS old_balance;
