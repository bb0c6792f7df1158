-- Adds the 'waitlisted' application status: universities increasingly put
-- applicants on a waiting list instead of deciding at once. ADD VALUE only
-- changes the catalog; the new value is not used in this file (PostgreSQL
-- does not allow using it before the adding transaction commits).

ALTER TYPE application_status ADD VALUE IF NOT EXISTS 'waitlisted' AFTER 'under_review';
