//! Step-attempt rows: finished and waiting attempts (`step_attempts`),
//! and attempts whose outside effect is under way (`performing_attempts`).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::Value as Json;

use super::runs::{Position, opt_text, state_of, text};
use super::states::AttemptState;
use crate::time::parse_ts;

/// One attempt of one step, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub run_id: i64,
    pub step_index: usize,
    pub step_id: String,
    pub kind: String,
    pub attempt: u32,
    pub state: AttemptState,
    /// What the outside world received to recognise a replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub input: Option<Json>,
    pub output: Option<Json>,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// What a plugin logged during the attempt: `{level, message}` lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Json>,
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
            state: state_of(r, AttemptState::parse)?,
            idempotency_key: opt_text(r, "idempotency_key")?,
            input: json(opt_text(r, "input")?),
            output: json(opt_text(r, "output")?),
            error: opt_text(r, "error")?,
            retryable: r.get("retryable")?,
            started_at: text(r, "started_at")?,
            finished_at: opt_text(r, "finished_at")?,
            logs: json(opt_text(r, "logs")?),
        })
    }

    /// Milliseconds from start to finish, when finished.
    pub fn duration_ms(&self) -> Option<i64> {
        let start = parse_ts(&self.started_at)?;
        let end = parse_ts(self.finished_at.as_deref()?)?;
        Some((end - start).num_milliseconds())
    }
}

pub(super) fn insert_attempt(conn: &Connection, a: &Attempt) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO step_attempts (run_id, step_index, step_id, kind, attempt, state, idempotency_key, input, output, error, retryable, started_at, finished_at, logs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        a.run_id,
        a.step_index as i64,
        a.step_id,
        a.kind,
        a.attempt,
        a.state.as_str(),
        a.idempotency_key,
        a.input.as_ref().map(Json::to_string),
        a.output.as_ref().map(Json::to_string),
        a.error,
        a.retryable,
        a.started_at,
        a.finished_at,
        a.logs.as_ref().map(Json::to_string)
    ])?;
    Ok(())
}

/// Ends an attempt that was waiting or performing.
pub(super) fn finish_attempt(conn: &Connection, a: &Attempt) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE step_attempts SET state = ?4, output = ?5, error = ?6, retryable = ?7, finished_at = ?8, logs = ?9
         WHERE run_id = ?1 AND step_index = ?2 AND attempt = ?3",
    )?
    .execute(params![
        a.run_id,
        a.step_index as i64,
        a.attempt,
        a.state.as_str(),
        a.output.as_ref().map(Json::to_string),
        a.error,
        a.retryable,
        a.finished_at,
        a.logs.as_ref().map(Json::to_string)
    ])?;
    Ok(())
}

/// A run's attempts, in order: finished and waiting ones, and any whose
/// effect is under way.
pub(super) fn attempts(conn: &Connection, run_id: i64) -> rusqlite::Result<Vec<Attempt>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM step_attempts WHERE run_id = ?1 ORDER BY step_index, attempt",
    )?;
    let mut all: Vec<Attempt> = stmt
        .query_map([run_id], Attempt::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached("SELECT * FROM performing_attempts WHERE run_id = ?1")?;
    for performing in stmt.query_map([run_id], performing_from_row)? {
        all.push(performing?);
    }
    all.sort_by_key(|a| (a.step_index, a.attempt));
    Ok(all)
}

/// The attempt `run` is in (at its cursor, numbered `run.attempt`) if it is
/// in `state`: the waiting attempt of a waiting run, or the performing one
/// a stopped process left.
pub(super) fn open_attempt(
    conn: &Connection,
    run: &Position,
    state: AttemptState,
) -> rusqlite::Result<Option<Attempt>> {
    let key = params![run.id, run.cursor as i64, run.attempt];
    if state == AttemptState::Performing {
        return conn
            .prepare_cached(
                "SELECT * FROM performing_attempts WHERE run_id = ?1 AND step_index = ?2 AND attempt = ?3",
            )?
            .query_row(key, performing_from_row)
            .optional();
    }
    conn.prepare_cached(
        "SELECT * FROM step_attempts WHERE run_id = ?1 AND step_index = ?2 AND attempt = ?3 AND state = ?4",
    )?
    .query_row(
        params![run.id, run.cursor as i64, run.attempt, state.as_str()],
        Attempt::from_row,
    )
    .optional()
}

fn performing_from_row(r: &Row) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        run_id: r.get("run_id")?,
        step_index: r.get::<_, i64>("step_index")? as usize,
        step_id: text(r, "step_id")?,
        kind: text(r, "kind")?,
        attempt: r.get("attempt")?,
        state: AttemptState::Performing,
        idempotency_key: opt_text(r, "idempotency_key")?,
        input: opt_text(r, "input")?.and_then(|s| serde_json::from_str(&s).ok()),
        output: None,
        error: None,
        retryable: None,
        started_at: text(r, "started_at")?,
        finished_at: None,
        logs: None,
    })
}

/// Records an attempt whose outside effect is about to start.
pub(super) fn insert_performing(conn: &Connection, a: &Attempt) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO performing_attempts (run_id, step_index, step_id, kind, attempt, idempotency_key, input, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        a.run_id,
        a.step_index as i64,
        a.step_id,
        a.kind,
        a.attempt,
        a.idempotency_key.as_deref().unwrap_or_default(),
        a.input.as_ref().map(Json::to_string),
        a.started_at,
    ])?;
    Ok(())
}

/// Where an attempt's record is before it is written as finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Nowhere yet.
    New,
    /// A waiting attempt in step_attempts.
    Waiting,
    /// In performing_attempts: its effect was under way.
    Performing,
}

impl Origin {
    pub fn of(attempt: &Attempt) -> Origin {
        match attempt.state {
            AttemptState::Waiting => Origin::Waiting,
            AttemptState::Performing if attempt.idempotency_key.is_some() => Origin::Performing,
            _ => Origin::New,
        }
    }
}

/// Writes attempt `a` as it now is, from where it was.
pub(super) fn write_attempt(conn: &Connection, a: &Attempt, from: Origin) -> rusqlite::Result<()> {
    match from {
        Origin::Waiting => finish_attempt(conn, a),
        Origin::New => insert_attempt(conn, a),
        Origin::Performing => {
            conn.prepare_cached(
                "DELETE FROM performing_attempts WHERE run_id = ?1 AND step_index = ?2 AND attempt = ?3",
            )?
            .execute(params![a.run_id, a.step_index as i64, a.attempt])?;
            insert_attempt(conn, a)
        }
    }
}
