-- Undoes the baseline: drops every EduPath table and enum, leaving an empty
-- schema. All data is lost; only ever run this against a dev or test database.

DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS documents;
DROP TABLE IF EXISTS application_events;
DROP TABLE IF EXISTS applications;
DROP TABLE IF EXISTS saved_programs;
DROP TABLE IF EXISTS programs;
DROP TABLE IF EXISTS universities;
DROP TABLE IF EXISTS student_profiles;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS countries;

DROP TYPE IF EXISTS notification_channel;
DROP TYPE IF EXISTS review_state;
DROP TYPE IF EXISTS document_kind;
DROP TYPE IF EXISTS application_status;
DROP TYPE IF EXISTS study_level;
DROP TYPE IF EXISTS account_status;
DROP TYPE IF EXISTS user_role;
