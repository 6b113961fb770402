-- Schema 2 to 3: a run's result (its automation's `output:`), and what
-- `keystep serve`'s triggers did (design section 4).
ALTER TABLE runs ADD COLUMN output TEXT;
-- The matcher's place in the event log: every event up to `seq` has been
-- matched against the automations. It moves in the transaction that starts
-- the event's runs.
CREATE TABLE trigger_positions (
    reader TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL
);
-- The run an event started for an automation: at most one, whatever the
-- processes and restarts.
CREATE TABLE triggered_runs (
    event_seq  INTEGER NOT NULL,
    automation TEXT NOT NULL,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    PRIMARY KEY (event_seq, automation)
);
-- When each scheduled automation last fired.
CREATE TABLE schedule_fires (
    automation TEXT PRIMARY KEY,
    fired_at   TEXT NOT NULL
);
-- The incoming webhook messages received, per automation: a message whose
-- `webhook-id` was seen before is refused.
CREATE TABLE webhook_messages (
    automation  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (automation, message_id)
);
