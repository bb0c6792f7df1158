CREATE TYPE shipment_state AS ENUM ('pending', 'shipped', 'delivered');
