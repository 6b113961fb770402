-- Attempts whose outside effect is under way (design section 7): recorded
-- before the effect starts, moved to step_attempts when the attempt
-- settles. One that a stopped process left here is performed again, with
-- its key.
CREATE TABLE performing_attempts (
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    step_index      INTEGER NOT NULL,
    step_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    input           TEXT,
    started_at      TEXT NOT NULL,
    PRIMARY KEY (run_id, step_index, attempt)
) WITHOUT ROWID;
