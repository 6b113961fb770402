-- keystep store, schema version 1. Timestamps are RFC 3339 UTC text
-- (2026-01-31T09:00:00.000Z), which sorts in time order.

-- The directory (design section 5).
CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    email        TEXT,
    display_name TEXT NOT NULL,
    username     TEXT,
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'inactive', 'deleted')),
    manager_id   TEXT,
    department   TEXT,
    title        TEXT,
    attributes   TEXT NOT NULL DEFAULT '{}',
    updated_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_id    TEXT,
    connector   TEXT,
    description TEXT
);

CREATE TABLE entitlements (
    id            TEXT PRIMARY KEY,          -- app:slug
    app_id        TEXT NOT NULL REFERENCES apps (id),
    slug          TEXT NOT NULL,
    name          TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT 'app',
    resource      TEXT,
    description   TEXT
);

CREATE TABLE grants (
    user_id        TEXT NOT NULL REFERENCES users (id),
    entitlement_id TEXT NOT NULL REFERENCES entitlements (id),
    source         TEXT NOT NULL DEFAULT 'direct',
    granted_at     TEXT NOT NULL,
    PRIMARY KEY (user_id, entitlement_id)
);
CREATE INDEX grants_entitlement ON grants (entitlement_id);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    user_id    TEXT REFERENCES users (id),
    username   TEXT,
    email      TEXT,
    status     TEXT NOT NULL DEFAULT 'active',
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX accounts_user ON accounts (user_id);

CREATE TABLE access_profiles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT
);
CREATE TABLE access_profile_entitlements (
    profile_id     TEXT NOT NULL REFERENCES access_profiles (id),
    entitlement_id TEXT NOT NULL REFERENCES entitlements (id),
    PRIMARY KEY (profile_id, entitlement_id)
);
CREATE TABLE enrollments (
    profile_id  TEXT NOT NULL REFERENCES access_profiles (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    enrolled_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, user_id)
);
CREATE INDEX enrollments_user ON enrollments (user_id);

-- user_id has delegated their approvals and reviews to delegate_id.
CREATE TABLE delegates (
    user_id     TEXT PRIMARY KEY REFERENCES users (id),
    delegate_id TEXT NOT NULL REFERENCES users (id)
);
CREATE INDEX delegates_delegate ON delegates (delegate_id);

CREATE TABLE review_templates (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    reviewer          TEXT NOT NULL,         -- manager | app_owner | user:<id>
    fallback_reviewer TEXT,
    apps              TEXT,                  -- JSON list of app ids in scope; NULL = all
    description       TEXT
);

CREATE TABLE campaigns (
    id             INTEGER PRIMARY KEY,
    template_id    TEXT NOT NULL REFERENCES review_templates (id),
    name           TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'open',
    created_at     TEXT NOT NULL,
    origin         TEXT
);

CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('grant', 'revoke', 'review')),
    state          TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completed', 'cancelled')),
    subject_id     TEXT NOT NULL REFERENCES users (id),
    assignee_id    TEXT REFERENCES users (id),
    entitlement_id TEXT NOT NULL REFERENCES entitlements (id),
    campaign_id    INTEGER REFERENCES campaigns (id),
    decision       TEXT,
    origin         TEXT,                     -- run_id/step_id/attempt, or cli
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX tasks_assignee ON tasks (assignee_id, state);
CREATE INDEX tasks_subject ON tasks (subject_id, state);

CREATE TABLE task_history (
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    at      TEXT NOT NULL,
    action  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX task_history_task ON task_history (task_id);

-- Every directory change appends one event in the same transaction: the
-- audit log, and the outbox the trigger matcher reads.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject_id TEXT,
    payload    TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Runs (design section 7).
CREATE TABLE automation_versions (
    hash       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    path       TEXT NOT NULL,
    source     TEXT NOT NULL,
    first_used TEXT NOT NULL
);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    automation     TEXT NOT NULL,
    version        TEXT NOT NULL REFERENCES automation_versions (hash),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
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
    finished_at    TEXT
);
CREATE INDEX runs_due ON runs (state, wake_at);
CREATE INDEX runs_parent ON runs (parent_run) WHERE parent_run IS NOT NULL;
CREATE INDEX runs_awaiting ON runs (awaiting_run) WHERE awaiting_run IS NOT NULL;

CREATE TABLE step_attempts (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    step_index  INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'succeeded', 'failed', 'skipped')),
    input       TEXT,
    output      TEXT,
    error       TEXT,
    retryable   INTEGER,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    idempotency_key TEXT,                        -- what the outside world received: run/step/attempt
    PRIMARY KEY (run_id, step_index, attempt)
) WITHOUT ROWID;

-- performing_attempts: see performing.sql.
