ALTER TABLE orders ADD COLUMN gift_note text, ADD COLUMN gift_wrap boolean DEFAULT false;
