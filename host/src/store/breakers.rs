//! The circuit breakers' records: how many runs an automation created in a
//! window, its paused runs, and the log of trips and of operators releasing
//! or dropping paused runs.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::runs;
use crate::time::ts;

/// What happened to a breaker, as its log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerAction {
    /// Its window filled: runs from now on are created paused.
    Tripped,
    /// An operator let the paused runs start.
    Resumed,
    /// An operator cancelled the paused runs.
    Cancelled,
}

impl BreakerAction {
    fn as_str(self) -> &'static str {
        match self {
            BreakerAction::Tripped => "tripped",
            BreakerAction::Resumed => "resumed",
            BreakerAction::Cancelled => "cancelled",
        }
    }
}

/// One line of the breakers' log.
#[derive(Debug, Clone)]
pub struct BreakerEntry<'a> {
    pub automation: &'a str,
    pub action: BreakerAction,
    /// How many runs it concerned (0 for a trip: the runs come after it).
    pub runs: usize,
    pub actor: &'a str,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// How many runs of `automation` were created at or after `since`.
pub(super) fn created_since(
    conn: &Connection,
    automation: &str,
    since: DateTime<Utc>,
) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM runs WHERE automation = ?1 AND created_at >= ?2")?
        .query_row(params![automation, ts(since)], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// The paused runs of `automation`, oldest first.
pub(super) fn paused(conn: &Connection, automation: &str) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM runs WHERE state = 'paused' AND automation = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([automation], |r| r.get(0))?;
    rows.collect()
}

/// Whether `automation` has a paused run.
pub(super) fn any_paused(conn: &Connection, automation: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM runs WHERE state = 'paused' AND automation = ?1)",
    )?
    .query_row([automation], |r| r.get(0))
}

/// How many times each automation's breaker tripped.
pub(super) fn trips(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT automation, count(*) FROM breaker_log WHERE action = 'tripped' GROUP BY 1 ORDER BY 1",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Pauses run `id`, just created pending.
pub(super) fn pause(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE runs SET state = 'paused' WHERE id = ?1 AND state = 'pending'")?
        .execute([id])?;
    Ok(())
}

/// Makes every paused run of `automation` pending; returns their ids.
pub(super) fn resume_paused(
    conn: &Connection,
    automation: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<i64>> {
    let ids = paused(conn, automation)?;
    conn.prepare_cached(
        "UPDATE runs SET state = 'pending', updated_at = ?2 WHERE state = 'paused' AND automation = ?1",
    )?
    .execute(params![automation, ts(now)])?;
    Ok(ids)
}

/// Cancels every paused run of `automation` with `error` (waking the
/// parents that wait on them); returns their ids.
pub(super) fn cancel_paused(
    conn: &Connection,
    automation: &str,
    error: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<i64>> {
    let ids = paused(conn, automation)?;
    for id in &ids {
        runs::cancel(conn, *id, error, now)?;
    }
    Ok(ids)
}

/// Appends `entry` to the breakers' log.
pub(super) fn log(conn: &Connection, entry: &BreakerEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO breaker_log (automation, action, runs, actor, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.automation,
        entry.action.as_str(),
        entry.runs as i64,
        entry.actor,
        entry.reason,
        ts(entry.at)
    ])?;
    Ok(())
}
