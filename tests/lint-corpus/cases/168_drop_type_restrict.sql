DROP TYPE IF EXISTS shipment_state_old;
