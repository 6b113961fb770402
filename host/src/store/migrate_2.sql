-- Schema 1 to 2: attempts whose outside effect is under way have a table
-- of their own, finished attempts keep their idempotency key, and a run
-- that waits until woken has no wake time instead of the year 9999.
ALTER TABLE step_attempts ADD COLUMN idempotency_key TEXT;
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
UPDATE runs SET wake_at = NULL WHERE wake_at >= '9999';
