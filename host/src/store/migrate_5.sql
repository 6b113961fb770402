-- Schema 4 to 5: an account is named by its app and the id the app gives
-- it. Two apps (two instances of one connector) may both have an account
-- `1`; keyed by id alone, the second sync or create would take over the
-- first app's row. Nothing references `accounts`, so it is rebuilt.
CREATE TABLE accounts_5 (
    id         TEXT NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    user_id    TEXT REFERENCES users (id),
    username   TEXT,
    email      TEXT,
    status     TEXT NOT NULL DEFAULT 'active',
    attributes TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (app_id, id)
);
INSERT INTO accounts_5 (id, app_id, user_id, username, email, status, attributes)
    SELECT id, app_id, user_id, username, email, status, attributes FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_5 RENAME TO accounts;
CREATE INDEX accounts_user ON accounts (user_id);
-- Each sync of a connector's app that was applied or failed (dry runs are
-- not): when it ran, and its summary or its error. `serve` reads the last
-- one to know when a connector's `sync_every` is next due.
CREATE TABLE syncs (
    id          INTEGER PRIMARY KEY,
    connector   TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    summary     TEXT,
    error       TEXT
);
CREATE INDEX syncs_connector ON syncs (connector, finished_at);
-- The log lines a plugin wrote during an attempt (a JSON list of
-- {level, message}), kept with it for `runs show`.
ALTER TABLE step_attempts ADD COLUMN logs TEXT;
