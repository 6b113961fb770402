//! Run and step-attempt rows: the durable state of every run, and every
//! SQL statement of the run state machine.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::time::{parse_ts, ts};

pub use super::attempts::*;
pub use super::states::{AttemptState, RunState};

/// A state column that holds a name the schema does not allow (written by
/// another tool): read as an error rather than guessed.
pub(super) fn state_of<T>(r: &Row, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let name = text(r, "state")?;
    parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown state `{name}`").into(),
        )
    })
}

/// One run, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub automation: String,
    pub version: String,
    pub state: RunState,
    pub trigger: Json,
    pub subject_id: Option<String>,
    /// Each finished step's output, by step id.
    pub outputs: Map<String, Json>,
    /// The run's result: its automation's `output:`, once it succeeded.
    pub output: Option<Json>,
    /// Index of the step to run next.
    pub cursor: usize,
    /// Attempts made of the step at `cursor`.
    pub attempt: u32,
    /// When a waiting run is due; none while it waits until woken.
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

/// Where a run stands, without its JSON: what the state machine decides
/// from and what a transition's guard compares. A write job carries this
/// rather than a copy of the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub id: i64,
    pub state: RunState,
    pub cursor: usize,
    pub attempt: u32,
    pub wake_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub parent_run: Option<i64>,
}

impl Position {
    /// Where `update` leaves the run, written by `owner`.
    pub fn after(&self, update: &RunUpdate, owner: &str) -> Position {
        Position {
            id: self.id,
            state: update.state,
            cursor: update.cursor,
            attempt: update.attempt,
            wake_at: update.wake_at,
            lease_owner: (update.state == RunState::Running).then(|| owner.to_string()),
            parent_run: self.parent_run,
        }
    }
}

impl Run {
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }

    pub fn position(&self) -> Position {
        Position {
            id: self.id,
            state: self.state,
            cursor: self.cursor,
            attempt: self.attempt,
            wake_at: self.wake_at,
            lease_owner: self.lease_owner.clone(),
            parent_run: self.parent_run,
        }
    }

    /// The run as `update` left it, without reading it back.
    pub fn apply(&mut self, update: &RunUpdate, owner: &str, lease_until: DateTime<Utc>) {
        self.state = update.state;
        if let Some((key, output)) = &update.output {
            self.outputs.insert(key.clone(), output.clone());
        }
        self.cursor = update.cursor;
        self.attempt = update.attempt;
        self.wake_at = update.wake_at;
        self.awaiting_run = update.awaiting_run;
        self.error = update.error.clone();
        if let Some(result) = &update.result {
            self.output = Some(result.clone());
        }
        let running = update.state == RunState::Running;
        self.lease_owner = running.then(|| owner.to_string());
        self.lease_until = running.then_some(lease_until);
    }

    fn from_row(r: &Row) -> rusqlite::Result<Run> {
        let json = |s: String| serde_json::from_str(&s).unwrap_or(Json::Null);
        Ok(Run {
            id: r.get("id")?,
            automation: text(r, "automation")?,
            version: text(r, "version")?,
            state: state_of(r, RunState::parse)?,
            trigger: json(text(r, "trigger")?),
            subject_id: opt_text(r, "subject_id")?,
            outputs: serde_json::from_str(&text(r, "outputs")?).unwrap_or_default(),
            output: opt_text(r, "output")?.map(json),
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
pub(super) fn opt_text(r: &Row, column: &str) -> rusqlite::Result<Option<String>> {
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
pub(super) fn text(r: &Row, column: &str) -> rusqlite::Result<String> {
    Ok(opt_text(r, column)?.unwrap_or_default())
}

/// The automation version a new run is pinned to.
pub struct Version<'a> {
    pub name: &'a str,
    /// The content hash.
    pub hash: &'a str,
    pub path: &'a str,
    pub source: &'a str,
}

/// Inserts a pending run of `version` (and the version's text, once). Its
/// subject is `trigger.user_id`; `lineage` lists the automations that led
/// to it, itself last.
pub(super) fn insert(
    conn: &Connection,
    version: &Version,
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
    .execute(params![version.hash, version.name, version.path, version.source, now])?;
    conn.prepare_cached(
        "INSERT INTO runs (automation, version, state, trigger, subject_id, parent_run, lineage, created_at, updated_at)
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
            version.name,
            version.hash,
            trigger.to_string(),
            trigger.get("user_id").and_then(Json::as_str),
            parent_run,
            serde_json::to_string(lineage).unwrap_or_default(),
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn load(conn: &Connection, id: i64) -> rusqlite::Result<Option<Run>> {
    conn.prepare_cached("SELECT * FROM runs WHERE id = ?1")?
        .query_row([id], Run::from_row)
        .optional()
}

/// The pinned text of an automation version: (path, source).
pub(super) fn version_source(
    conn: &Connection,
    hash: &str,
) -> rusqlite::Result<Option<(String, String)>> {
    conn.query_row(
        "SELECT path, source FROM automation_versions WHERE hash = ?1",
        [hash],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Runs that can make progress now, oldest first.
pub(super) fn due(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM runs WHERE state IN ('pending', 'running')
         UNION
         SELECT id FROM runs WHERE state = 'waiting' AND wake_at <= ?1
         ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![ts(now), limit as i64], |r| r.get(0))?;
    rows.collect()
}

/// How many runs there are of each automation in each state.
pub(super) fn census(conn: &Connection) -> rusqlite::Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT automation, state, count(*) FROM runs GROUP BY 1, 2 ORDER BY 1, 2",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((text(r, "automation")?, text(r, "state")?, r.get(2)?))
    })?;
    rows.collect()
}

/// How many runs are due by `now` (those [`due`] lists).
pub(super) fn count_due(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT (SELECT count(*) FROM runs WHERE state IN ('pending', 'running'))
              + (SELECT count(*) FROM runs WHERE state = 'waiting' AND wake_at <= ?1)",
    )?
    .query_row([ts(now)], |r| r.get(0))
}

/// The earliest time a waiting run falls due (runs waiting until woken
/// have none).
pub(super) fn next_wake(conn: &Connection) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let at: Option<String> = conn.query_row(
        "SELECT min(wake_at) FROM runs WHERE state = 'waiting'",
        [],
        |r| r.get(0),
    )?;
    Ok(at.as_deref().and_then(parse_ts))
}

/// How many runs wait.
pub(super) fn count_waiting(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM runs WHERE state = 'waiting'",
        [],
        |r| r.get(0),
    )
}

/// The runs `run` started, oldest first.
pub(super) fn children(conn: &Connection, run: i64) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached("SELECT id FROM runs WHERE parent_run = ?1 ORDER BY id")?
        .query_map([run], |r| r.get(0))?
        .collect()
}

/// Which runs to list.
#[derive(Debug, Default)]
pub struct RunFilter {
    pub automation: Option<String>,
    pub state: Option<RunState>,
    /// Runs about this user.
    pub subject: Option<String>,
    /// Runs older than this one (the newest first): the next page.
    pub before: Option<i64>,
    pub limit: usize,
}

pub(super) fn list(conn: &Connection, filter: &RunFilter) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare(
        "SELECT * FROM runs WHERE (?1 IS NULL OR automation = ?1) AND (?2 IS NULL OR state = ?2)
           AND (?4 IS NULL OR subject_id = ?4) AND (?5 IS NULL OR id < ?5)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![
            filter.automation,
            filter.state.map(RunState::as_str),
            filter.limit as i64,
            filter.subject,
            filter.before
        ],
        Run::from_row,
    )?;
    rows.collect()
}

/// The next state of a run, written by one transition.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    pub state: RunState,
    /// A step's output to add to the run's outputs.
    pub output: Option<(String, Json)>,
    pub cursor: usize,
    pub attempt: u32,
    /// When a waiting run is due; none: until woken.
    pub wake_at: Option<DateTime<Utc>>,
    pub awaiting_run: Option<i64>,
    pub error: Option<String>,
    /// The run's result, written as it succeeds.
    pub result: Option<Json>,
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
pub(super) fn update(
    conn: &Connection,
    expected: &Position,
    update: &RunUpdate,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let finished = update.state.is_terminal().then(|| ts(now));
    let (lease_owner, lease_until) = match update.state {
        RunState::Running => (Some(owner), Some(ts(lease_until))),
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
                finished_at = ?10, lease_owner = ?15, lease_until = ?16, output = coalesce(?18, output)
             WHERE id = ?11 AND cursor = ?12 AND attempt = ?13 AND state NOT IN ('succeeded', 'failed', 'cancelled')
               AND (lease_owner IS ?14 OR lease_owner = ?17)",
        )?
        .execute(params![
            update.state.as_str(),
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
            owner,
            update.result.as_ref().map(Json::to_string)
        ])?;
    if changed == 1 && finished.is_some() && expected.parent_run.is_some() {
        wake_parent(conn, expected.id, now)?;
    }
    Ok(changed == 1)
}

/// Extends `owner`'s lease on run `id` (while a step's effect goes on);
/// returns whether `owner` still held it.
pub(super) fn renew_lease(
    conn: &Connection,
    id: i64,
    owner: &str,
    until: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
        )?
        .execute(params![id, owner, ts(until)])?;
    Ok(changed == 1)
}

/// A parent waiting on `child` becomes due.
pub(super) fn wake_parent(
    conn: &Connection,
    child: i64,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET wake_at = ?2 WHERE awaiting_run = ?1 AND state = 'waiting'",
    )?
    .execute(params![child, ts(now)])?;
    Ok(())
}

/// Cancels run `id` with `error` as its reason, its open (waiting, or
/// performing: it fails, whatever its effect does) attempt, and the child runs it waits on, in turn. Returns
/// the cancelled runs' ids; none when `id` had already ended.
pub(super) fn cancel(
    conn: &Connection,
    id: i64,
    error: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<i64>> {
    let mut cancelled = Vec::new();
    let mut next = load(conn, id)?;
    while let Some(run) = next.filter(|r| !r.is_terminal()) {
        conn.prepare_cached(
            "UPDATE step_attempts SET state = 'failed', error = ?3, finished_at = ?4
             WHERE run_id = ?1 AND step_index = ?2 AND state = 'waiting'",
        )?
        .execute(params![run.id, run.cursor as i64, error, ts(now)])?;
        if let Some(mut performing) = open_attempt(conn, &run.position(), AttemptState::Performing)?
        {
            performing.state = AttemptState::Failed;
            performing.error = Some(error.to_string());
            performing.retryable = Some(false);
            performing.finished_at = Some(ts(now));
            write_attempt(conn, &performing, Origin::Performing)?;
        }
        conn.prepare_cached(
            "UPDATE runs SET state = 'cancelled', error = ?2, finished_at = ?3, updated_at = ?3,
                wake_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = ?1",
        )?
        .execute(params![run.id, error, ts(now)])?;
        wake_parent(conn, run.id, now)?;
        cancelled.push(run.id);
        next = match run.awaiting_run {
            Some(child) => load(conn, child)?,
            None => None,
        };
    }
    Ok(cancelled)
}

/// Makes failed run `id` pending again, to retry the step it failed on;
/// returns whether it had failed.
pub(super) fn reopen(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE runs SET state = 'pending', error = NULL, finished_at = NULL, wake_at = NULL WHERE id = ?1 AND state = 'failed'",
        [id],
    )?;
    Ok(changed == 1)
}
