-- Baseline schema for EduPath: accounts, student profiles, the university and
-- program catalog, applications with their status history, uploaded documents,
-- notifications and messages. Every later migration builds on this file; an
-- existing production database that already has this schema is marked applied
-- instead of running it.

-- Enums -----------------------------------------------------------------------

CREATE TYPE user_role AS ENUM ('student', 'counselor', 'admin');

CREATE TYPE account_status AS ENUM ('invited', 'active', 'suspended', 'closed');

CREATE TYPE study_level AS ENUM ('foundation', 'bachelor', 'master', 'doctorate');

CREATE TYPE application_status AS ENUM (
    'draft', 'submitted', 'under_review', 'offer_made', 'accepted', 'rejected', 'withdrawn'
);

CREATE TYPE document_kind AS ENUM (
    'passport', 'transcript', 'language_certificate', 'reference_letter',
    'statement_of_purpose', 'resume', 'proof_of_funds'
);

CREATE TYPE review_state AS ENUM ('pending', 'approved', 'needs_changes');

CREATE TYPE notification_channel AS ENUM ('in_app', 'email', 'sms');

-- Reference data ----------------------------------------------------------------

-- ISO 3166-1 alpha-2 codes; rows arrive in a later migration.
CREATE TABLE IF NOT EXISTS countries (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- People ------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL,
    display_name   text NOT NULL,
    password_hash  text,
    role           user_role NOT NULL DEFAULT 'student',
    status         account_status NOT NULL DEFAULT 'invited',
    settings       jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_seen_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_lower CHECK (email = lower(email))
);

CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email);
CREATE INDEX IF NOT EXISTS users_role_status_idx ON users (role, status);

-- One row per student account; counselors are users with role 'counselor'.
CREATE TABLE IF NOT EXISTS student_profiles (
    user_id             uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    counselor_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    citizenship         text REFERENCES countries (code),
    birth_date          date,
    target_level        study_level,
    grade_average       numeric(4, 2) CHECK (grade_average >= 0),
    test_results        jsonb NOT NULL DEFAULT '[]'::jsonb,
    study_preferences   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS student_profiles_counselor_idx ON student_profiles (counselor_id);
CREATE INDEX IF NOT EXISTS student_profiles_preferences_gin ON student_profiles USING gin (study_preferences);

-- Catalog -------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS universities (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    country_code  text NOT NULL REFERENCES countries (code),
    city          text,
    website       text,
    global_rank   integer CHECK (global_rank > 0),
    profile       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT universities_name_country_key UNIQUE (country_code, name)
);

CREATE INDEX IF NOT EXISTS universities_rank_idx ON universities (global_rank) WHERE global_rank IS NOT NULL;

CREATE TABLE IF NOT EXISTS programs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    university_id     bigint NOT NULL REFERENCES universities (id) ON DELETE CASCADE,
    title             text NOT NULL,
    level             study_level NOT NULL,
    subject_area      text NOT NULL,
    duration_months   integer NOT NULL CHECK (duration_months > 0),
    yearly_fee_cents  bigint CHECK (yearly_fee_cents >= 0),
    fee_currency      text NOT NULL DEFAULT 'EUR' CHECK (fee_currency ~ '^[A-Z]{3}$'),
    entry_requirements jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_open           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT programs_university_title_level_key UNIQUE (university_id, title, level)
);

CREATE INDEX IF NOT EXISTS programs_level_subject_idx ON programs (level, subject_area) WHERE is_open;

-- A student's shortlist of programs.
CREATE TABLE IF NOT EXISTS saved_programs (
    student_id  uuid NOT NULL REFERENCES student_profiles (user_id) ON DELETE CASCADE,
    program_id  bigint NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, program_id)
);

CREATE INDEX IF NOT EXISTS saved_programs_program_idx ON saved_programs (program_id);

-- Applications ----------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS applications (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    student_id    uuid NOT NULL REFERENCES student_profiles (user_id) ON DELETE CASCADE,
    program_id    bigint NOT NULL REFERENCES programs (id),
    intake_term   text NOT NULL CHECK (intake_term ~ '^[0-9]{4}-(spring|summer|autumn|winter)$'),
    status        application_status NOT NULL DEFAULT 'draft',
    form_answers  jsonb NOT NULL DEFAULT '{}'::jsonb,
    submitted_at  timestamptz,
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_one_per_intake UNIQUE (student_id, program_id, intake_term),
    CONSTRAINT applications_submitted_before_decided CHECK (decided_at IS NULL OR submitted_at <= decided_at)
);

CREATE INDEX IF NOT EXISTS applications_program_idx ON applications (program_id);
CREATE INDEX IF NOT EXISTS applications_status_idx ON applications (status, updated_at);

-- Every status change, for the student's timeline and for audits.
CREATE TABLE IF NOT EXISTS application_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    actor_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    old_status      application_status,
    new_status      application_status NOT NULL,
    note            text,
    occurred_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS application_events_application_idx ON application_events (application_id, occurred_at);

-- Files ---------------------------------------------------------------------------------

-- The bytes live in object storage under storage_key; this row is the index card.
CREATE TABLE IF NOT EXISTS documents (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id  uuid REFERENCES applications (id) ON DELETE SET NULL,
    kind            document_kind NOT NULL,
    review          review_state NOT NULL DEFAULT 'pending',
    reviewer_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    reviewed_at     timestamptz,
    storage_key     text NOT NULL UNIQUE,
    original_name   text NOT NULL,
    media_type      text NOT NULL,
    byte_size       bigint NOT NULL CHECK (byte_size > 0),
    extracted       jsonb,
    uploaded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS documents_owner_kind_idx ON documents (owner_id, kind);
CREATE INDEX IF NOT EXISTS documents_application_idx ON documents (application_id) WHERE application_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS documents_pending_review_idx ON documents (uploaded_at) WHERE review = 'pending';

-- Communication -------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel     notification_channel NOT NULL DEFAULT 'in_app',
    topic       text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    sent_at     timestamptz,
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS notifications_user_created_idx ON notifications (user_id, created_at DESC);

-- Student <-> counselor conversation, optionally about one application.
CREATE TABLE IF NOT EXISTS messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id  uuid REFERENCES applications (id) ON DELETE SET NULL,
    body            text NOT NULL CHECK (length(body) > 0),
    attachments     jsonb NOT NULL DEFAULT '[]'::jsonb,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    CONSTRAINT messages_not_to_self CHECK (sender_id <> recipient_id)
);

CREATE INDEX IF NOT EXISTS messages_recipient_idx ON messages (recipient_id, sent_at DESC);
CREATE INDEX IF NOT EXISTS messages_sender_idx ON messages (sender_id, sent_at DESC);
