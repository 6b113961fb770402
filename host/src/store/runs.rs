//! Run and step-attempt rows: the durable state of every run.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::{parse_ts, ts};
use crate::automation::Automation;

/// Every state a run can be in (the schema's `CHECK`).
pub const STATES: &[&str] = &[
    "pending",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "cancelled",
];

/// The states a run ends in.
pub const TERMINAL: &[&str] = &["succeeded", "failed", "cancelled"];

/// One run, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub automation: String,
    pub version: String,
    pub state: String,
    pub trigger: Json,
    pub subject_id: Option<String>,
    /// Each finished step's output, by step id.
    pub outputs: Map<String, Json>,
    /// Index of the step to run next.
    pub cursor: usize,
    /// Attempts made of the step at `cursor`.
    pub attempt: u32,
    pub wake_at: Option<DateTime<Utc>>,
    pub awaiting_run: Option<i64>,
    pub parent_run: Option<i64>,
    pub lineage: Vec<String>,
    pub error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl Run {
    pub fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.state.as_str())
    }

    /// The run as `update` left it, without reading it back.
    pub fn apply(&mut self, update: &RunUpdate, owner: &str, lease_until: DateTime<Utc>) {
        self.state = update.state.to_string();
        if let Some((key, output)) = &update.output {
            self.outputs.insert(key.clone(), output.clone());
        }
        self.cursor = update.cursor;
        self.attempt = update.attempt;
        self.wake_at = update.wake_at;
        self.awaiting_run = update.awaiting_run;
        self.error = update.error.clone();
        let running = update.state == "running";
        self.lease_owner = running.then(|| owner.to_string());
        self.lease_until = running.then_some(lease_until);
    }

    fn from_row(r: &Row) -> rusqlite::Result<Run> {
        let json = |s: String| serde_json::from_str(&s).unwrap_or(Json::Null);
        Ok(Run {
            id: r.get("id")?,
            automation: text(r, "automation")?,
            version: text(r, "version")?,
            state: text(r, "state")?,
            trigger: json(text(r, "trigger")?),
            subject_id: opt_text(r, "subject_id")?,
            outputs: serde_json::from_str(&text(r, "outputs")?).unwrap_or_default(),
            cursor: r.get::<_, i64>("cursor")? as usize,
            attempt: r.get("attempt")?,
            wake_at: opt_text(r, "wake_at")?.as_deref().and_then(parse_ts),
            awaiting_run: r.get("awaiting_run")?,
            parent_run: r.get("parent_run")?,
            lineage: serde_json::from_str(&text(r, "lineage")?).unwrap_or_default(),
            error: opt_text(r, "error")?,
            lease_owner: opt_text(r, "lease_owner")?,
            lease_until: opt_text(r, "lease_until")?.as_deref().and_then(parse_ts),
            created_at: text(r, "created_at")?,
            updated_at: text(r, "updated_at")?,
            finished_at: opt_text(r, "finished_at")?,
        })
    }
}

/// A text column, read even when it holds invalid UTF-8 (written by another
/// tool, or damaged): the bad bytes show as U+FFFD instead of one row making
/// every listing fail.
fn opt_text(r: &Row, column: &str) -> rusqlite::Result<Option<String>> {
    Ok(match r.get_ref(column)? {
        ValueRef::Null => None,
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
    })
}

/// A text column that should never be NULL (an empty string if it is).
fn text(r: &Row, column: &str) -> rusqlite::Result<String> {
    Ok(opt_text(r, column)?.unwrap_or_default())
}

/// Inserts a pending run of `automation` (and the version it is pinned to,
/// once). Its subject is `trigger.user_id`; `lineage` lists the automations
/// that led to it, itself last.
pub fn insert(
    conn: &Connection,
    automation: &Automation,
    trigger: &Json,
    parent_run: Option<i64>,
    lineage: &[String],
    now: DateTime<Utc>,
) -> rusqlite::Result<i64> {
    let now = ts(now);
    conn.prepare_cached(
        "INSERT INTO automation_versions (hash, name, path, source, first_used) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
            automation.hash,
            automation.name,
            automation.path.to_string_lossy(),
            automation.source,
            now
        ],
    )?;
    conn.prepare_cached(
        "INSERT INTO runs (automation, version, state, trigger, subject_id, parent_run, lineage, created_at, updated_at)
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
            automation.name,
            automation.hash,
            trigger.to_string(),
            trigger.get("user_id").and_then(Json::as_str),
            parent_run,
            serde_json::to_string(lineage).unwrap_or_default(),
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn load(conn: &Connection, id: i64) -> rusqlite::Result<Option<Run>> {
    conn.prepare_cached("SELECT * FROM runs WHERE id = ?1")?
        .query_row([id], Run::from_row)
        .optional()
}

/// The pinned text of an automation version: (path, source).
pub fn version_source(conn: &Connection, hash: &str) -> rusqlite::Result<(String, String)> {
    conn.query_row(
        "SELECT path, source FROM automation_versions WHERE hash = ?1",
        [hash],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Runs that can make progress now, oldest first.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: usize) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM runs WHERE state IN ('pending', 'running')
         UNION
         SELECT id FROM runs WHERE state = 'waiting' AND wake_at <= ?1
         ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![ts(now), limit as i64], |r| r.get(0))?;
    rows.collect()
}

/// The earliest time a waiting run falls due.
pub fn next_wake(conn: &Connection) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let at: Option<String> = conn.query_row(
        "SELECT min(wake_at) FROM runs WHERE state = 'waiting'",
        [],
        |r| r.get(0),
    )?;
    Ok(at.as_deref().and_then(parse_ts))
}

/// Which runs to list.
#[derive(Debug, Default)]
pub struct RunFilter {
    pub automation: Option<String>,
    pub state: Option<String>,
    pub limit: usize,
}

pub fn list(conn: &Connection, filter: &RunFilter) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare(
        "SELECT * FROM runs WHERE (?1 IS NULL OR automation = ?1) AND (?2 IS NULL OR state = ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![filter.automation, filter.state, filter.limit as i64],
        Run::from_row,
    )?;
    rows.collect()
}

/// One attempt of one step, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub run_id: i64,
    pub step_index: usize,
    pub step_id: String,
    pub kind: String,
    pub attempt: u32,
    pub state: String,
    pub input: Option<Json>,
    pub output: Option<Json>,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl Attempt {
    fn from_row(r: &Row) -> rusqlite::Result<Attempt> {
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Ok(Attempt {
            run_id: r.get("run_id")?,
            step_index: r.get::<_, i64>("step_index")? as usize,
            step_id: text(r, "step_id")?,
            kind: text(r, "kind")?,
            attempt: r.get("attempt")?,
            state: text(r, "state")?,
            input: json(opt_text(r, "input")?),
            output: json(opt_text(r, "output")?),
            error: opt_text(r, "error")?,
            retryable: r.get("retryable")?,
            started_at: text(r, "started_at")?,
            finished_at: opt_text(r, "finished_at")?,
        })
    }

    /// Milliseconds from start to finish, when finished.
    pub fn duration_ms(&self) -> Option<i64> {
        let start = parse_ts(&self.started_at)?;
        let end = parse_ts(self.finished_at.as_deref()?)?;
        Some((end - start).num_milliseconds())
    }
}

pub fn insert_attempt(conn: &Connection, a: &Attempt) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO step_attempts (run_id, step_index, step_id, kind, attempt, state, input, output, error, retryable, started_at, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.run_id,
        a.step_index as i64,
        a.step_id,
        a.kind,
        a.attempt,
        a.state,
        a.input.as_ref().map(Json::to_string),
        a.output.as_ref().map(Json::to_string),
        a.error,
        a.retryable,
        a.started_at,
        a.finished_at
    ])?;
    Ok(())
}

/// Ends a waiting attempt.
pub fn finish_attempt(conn: &Connection, a: &Attempt) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE step_attempts SET state = ?4, output = ?5, error = ?6, retryable = ?7, finished_at = ?8
         WHERE run_id = ?1 AND step_index = ?2 AND attempt = ?3",
    )?
    .execute(params![
        a.run_id,
        a.step_index as i64,
        a.attempt,
        a.state,
        a.output.as_ref().map(Json::to_string),
        a.error,
        a.retryable,
        a.finished_at
    ])?;
    Ok(())
}

pub fn attempts(conn: &Connection, run_id: i64) -> rusqlite::Result<Vec<Attempt>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM step_attempts WHERE run_id = ?1 ORDER BY step_index, attempt",
    )?;
    let rows = stmt.query_map([run_id], Attempt::from_row)?;
    rows.collect()
}

/// The attempt a waiting run is in, if any.
pub fn waiting_attempt(conn: &Connection, run: &Run) -> rusqlite::Result<Option<Attempt>> {
    conn.prepare_cached(
        "SELECT * FROM step_attempts WHERE run_id = ?1 AND step_index = ?2 AND attempt = ?3 AND state = 'waiting'",
    )?
    .query_row(params![run.id, run.cursor as i64, run.attempt], Attempt::from_row)
    .optional()
}

/// The next state of a run, written by one transition.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    pub state: &'static str,
    /// A step's output to add to the run's outputs.
    pub output: Option<(String, Json)>,
    pub cursor: usize,
    pub attempt: u32,
    pub wake_at: Option<DateTime<Utc>>,
    pub awaiting_run: Option<i64>,
    pub error: Option<String>,
}

impl RunUpdate {
    /// On to the next step (recording `output`), or the run's success after
    /// the last of its `steps`.
    pub fn advance(run: &Run, output: Option<(String, Json)>, steps: usize) -> RunUpdate {
        let cursor = run.cursor + 1;
        RunUpdate {
            state: if cursor >= steps {
                "succeeded"
            } else {
                "running"
            },
            output,
            cursor,
            attempt: 0,
            wake_at: None,
            awaiting_run: None,
            error: None,
        }
    }

    /// Waits in attempt `attempt` of the same step until `wake_at` (or
    /// until the run `awaiting` ends).
    pub fn wait(
        run: &Run,
        attempt: u32,
        wake_at: DateTime<Utc>,
        awaiting: Option<i64>,
    ) -> RunUpdate {
        RunUpdate {
            state: "waiting",
            output: None,
            cursor: run.cursor,
            attempt,
            wake_at: Some(wake_at),
            awaiting_run: awaiting,
            error: None,
        }
    }

    /// The run fails on the step at its cursor.
    pub fn fail(run: &Run, attempt: u32, error: String) -> RunUpdate {
        RunUpdate {
            state: "failed",
            output: None,
            cursor: run.cursor,
            attempt,
            wake_at: None,
            awaiting_run: None,
            error: Some(error),
        }
    }
}

/// Whether another process, still running, holds the lease on `run`.
/// `alive` tells whether a lease owner's process still runs.
pub fn held_by_other(
    run: &Run,
    owner: &str,
    now: DateTime<Utc>,
    alive: impl Fn(&str) -> bool,
) -> bool {
    run.lease_owner.as_deref().is_some_and(|holder| {
        holder != owner && run.lease_until.is_some_and(|u| u > now) && alive(holder)
    })
}

/// Writes `update` if the run is still where `expected` left it (same step,
/// same attempt, not ended, lease as seen); returns whether it was. A
/// running run is leased to `owner` until `lease_until`; a run that waits
/// or ends is leased to nobody, and one that ends wakes a parent waiting on it.
pub fn update(
    conn: &Connection,
    expected: &Run,
    update: &RunUpdate,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let finished = TERMINAL.contains(&update.state).then(|| ts(now));
    let (lease_owner, lease_until) = match update.state {
        "running" => (Some(owner), Some(ts(lease_until))),
        _ => (None, None),
    };
    let (key, output) = match &update.output {
        Some((key, output)) => (Some(format!("$.{key}")), Some(output.to_string())),
        None => (None, None),
    };
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET state = ?1,
                outputs = CASE WHEN ?2 IS NULL THEN outputs ELSE json_set(outputs, ?2, json(?3)) END,
                cursor = ?4, attempt = ?5, wake_at = ?6, awaiting_run = ?7, error = ?8, updated_at = ?9,
                finished_at = ?10, lease_owner = ?15, lease_until = ?16
             WHERE id = ?11 AND cursor = ?12 AND attempt = ?13 AND state NOT IN ('succeeded', 'failed', 'cancelled')
               AND (lease_owner IS ?14 OR lease_owner = ?17)",
        )?
        .execute(params![
            update.state,
            key,
            output,
            update.cursor as i64,
            update.attempt,
            update.wake_at.map(ts),
            update.awaiting_run,
            update.error,
            ts(now),
            finished,
            expected.id,
            expected.cursor as i64,
            expected.attempt,
            expected.lease_owner,
            lease_owner,
            lease_until,
            owner
        ])?;
    if changed == 1 && finished.is_some() && expected.parent_run.is_some() {
        wake_parent(conn, expected.id, now)?;
    }
    Ok(changed == 1)
}

/// A parent waiting on `child` becomes due.
pub fn wake_parent(conn: &Connection, child: i64, now: DateTime<Utc>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET wake_at = ?2 WHERE awaiting_run = ?1 AND state = 'waiting'",
    )?
    .execute(params![child, ts(now)])?;
    Ok(())
}
