-- Adds scholarships offered by universities (optionally tied to one program)
-- so students can filter programs by funding. A new, empty table: creating
-- it and its indexes in the same file takes no lock on existing rows.

CREATE TABLE IF NOT EXISTS scholarships (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    university_id  bigint NOT NULL REFERENCES universities (id) ON DELETE CASCADE,
    program_id     bigint REFERENCES programs (id) ON DELETE CASCADE,
    title          text NOT NULL,
    amount_cents   bigint CHECK (amount_cents > 0),
    currency       text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    covers_full_tuition boolean NOT NULL DEFAULT false,
    eligibility    jsonb NOT NULL DEFAULT '{}'::jsonb,
    deadline       date,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scholarships_amount_or_full CHECK (amount_cents IS NOT NULL OR covers_full_tuition)
);

CREATE INDEX IF NOT EXISTS scholarships_university_idx ON scholarships (university_id);
CREATE INDEX IF NOT EXISTS scholarships_program_idx ON scholarships (program_id) WHERE program_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS scholarships_deadline_idx ON scholarships (deadline) WHERE deadline IS NOT NULL;
