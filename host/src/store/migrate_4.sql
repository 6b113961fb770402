-- Schema 3 to 4: runs an automation's circuit breaker (`max_runs`) created
-- paused, and what became of them. SQLite cannot widen a CHECK in place, so
-- `runs` is rebuilt (foreign keys off around this script: other tables
-- name `runs`, which is the table's name again once renamed).
CREATE TABLE runs_4 (
    id             INTEGER PRIMARY KEY,
    automation     TEXT NOT NULL,
    version        TEXT NOT NULL REFERENCES automation_versions (hash),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'paused', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
    trigger        TEXT NOT NULL,
    subject_id     TEXT,
    outputs        TEXT NOT NULL DEFAULT '{}',
    cursor         INTEGER NOT NULL DEFAULT 0,   -- index of the step to run next
    attempt        INTEGER NOT NULL DEFAULT 0,   -- attempts made of the step at cursor
    wake_at        TEXT,                         -- when a waiting run is due; NULL: until woken
    awaiting_run   INTEGER,                      -- the child run a step waits for
    parent_run     INTEGER,                      -- the run whose step started this one
    lineage        TEXT NOT NULL DEFAULT '[]',   -- automations that led here
    error          TEXT,
    lease_owner    TEXT,
    lease_until    TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    finished_at    TEXT,
    output         TEXT                          -- the automation's `output:`, once it succeeded
);
INSERT INTO runs_4 (id, automation, version, state, trigger, subject_id, outputs, cursor, attempt,
        wake_at, awaiting_run, parent_run, lineage, error, lease_owner, lease_until,
        created_at, updated_at, finished_at, output)
    SELECT id, automation, version, state, trigger, subject_id, outputs, cursor, attempt,
        wake_at, awaiting_run, parent_run, lineage, error, lease_owner, lease_until,
        created_at, updated_at, finished_at, output FROM runs;
DROP TABLE runs;
ALTER TABLE runs_4 RENAME TO runs;
CREATE INDEX runs_due ON runs (state, wake_at);
CREATE INDEX runs_parent ON runs (parent_run) WHERE parent_run IS NOT NULL;
CREATE INDEX runs_awaiting ON runs (awaiting_run) WHERE awaiting_run IS NOT NULL;
-- The breaker counts an automation's runs created in its window.
CREATE INDEX runs_created ON runs (automation, created_at);
-- The breakers' record: each trip, and each release or drop of paused runs
-- (who, why, how many).
CREATE TABLE breaker_log (
    id         INTEGER PRIMARY KEY,
    automation TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('tripped', 'resumed', 'cancelled')),
    runs       INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         TEXT NOT NULL
);
