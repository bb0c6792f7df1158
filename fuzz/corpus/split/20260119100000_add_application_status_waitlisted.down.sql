-- Removes 'waitlisted' from application_status. PostgreSQL cannot drop an
-- enum value, so the type is rebuilt without it and every column using it is
-- converted. If any application or event still has status 'waitlisted' the
-- cast fails and the whole file rolls back: move those rows to another status
-- first (e.g. 'under_review'). Rewrites applications and application_events.

ALTER TYPE application_status RENAME TO application_status_with_waitlist;

CREATE TYPE application_status AS ENUM (
    'draft', 'submitted', 'under_review', 'offer_made', 'accepted', 'rejected', 'withdrawn'
);

ALTER TABLE applications
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE application_status USING status::text::application_status,
    ALTER COLUMN status SET DEFAULT 'draft';

ALTER TABLE application_events
    ALTER COLUMN old_status TYPE application_status USING old_status::text::application_status,
    ALTER COLUMN new_status TYPE application_status USING new_status::text::application_status;

DROP TYPE application_status_with_waitlist;
