-- Schema 1 to 2: attempts may be `performing` (recorded before their
-- outside effect starts) and keep their idempotency key; a run that waits
-- until woken has no wake time instead of the year 9999.
CREATE TABLE step_attempts_v2 (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    step_index  INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('performing', 'waiting', 'succeeded', 'failed', 'skipped')),
    idempotency_key TEXT,                        -- what the outside world received: run/step/attempt
    input       TEXT,
    output      TEXT,
    error       TEXT,
    retryable   INTEGER,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (run_id, step_index, attempt)
) WITHOUT ROWID;
INSERT INTO step_attempts_v2 (run_id, step_index, step_id, kind, attempt, state, input, output, error, retryable, started_at, finished_at)
    SELECT run_id, step_index, step_id, kind, attempt, state, input, output, error, retryable, started_at, finished_at FROM step_attempts;
DROP TABLE step_attempts;
ALTER TABLE step_attempts_v2 RENAME TO step_attempts;
UPDATE runs SET wake_at = NULL WHERE wake_at >= '9999';
