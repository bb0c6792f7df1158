-- Adds an optional phone number to users so counselors can reach students
-- by SMS (notification_channel 'sms'). Nullable and without a default, so
-- PostgreSQL only updates the catalog: no table rewrite, no long lock.
-- Format (E.164, e.g. +4915112345678) is checked by the application for now.

ALTER TABLE users ADD COLUMN IF NOT EXISTS phone_number text;
