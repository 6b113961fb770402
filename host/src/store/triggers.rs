//! The triggers' records: the matcher's position in the event log, the run
//! each event started for each automation, and when each schedule fired.
//! Every statement is guarded so that two processes matching the same log
//! start each run once.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::time::{parse_ts, ts};

/// The last event `reader` has matched; none before its first start.
pub(super) fn position(conn: &Connection, reader: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT seq FROM trigger_positions WHERE reader = ?1")?
        .query_row([reader], |r| r.get(0))
        .optional()
}

/// The newest event's number (0: the log is empty).
pub(super) fn last_event(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
        .query_row([], |r| r.get(0))
}

/// Moves `reader` from `from` (none: its first start) to `to`; false if it
/// was elsewhere (another process matched those events first).
pub(super) fn advance(
    conn: &Connection,
    reader: &str,
    from: Option<i64>,
    to: i64,
) -> rusqlite::Result<bool> {
    let moved = match from {
        None => conn
            .prepare_cached(
                "INSERT INTO trigger_positions (reader, seq) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![reader, to])?,
        Some(from) => conn
            .prepare_cached(
                "UPDATE trigger_positions SET seq = ?3 WHERE reader = ?1 AND seq = ?2",
            )?
            .execute(params![reader, from, to])?,
    };
    Ok(moved == 1)
}

/// The run event `seq` started for `automation`, if any.
pub(super) fn started_by(
    conn: &Connection,
    seq: i64,
    automation: &str,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT run_id FROM triggered_runs WHERE event_seq = ?1 AND automation = ?2",
    )?
    .query_row(params![seq, automation], |r| r.get(0))
    .optional()
}

/// Records that event `seq` started run `run` of `automation` (the primary
/// key refuses a second).
pub(super) fn record_start(
    conn: &Connection,
    seq: i64,
    automation: &str,
    run: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO triggered_runs (event_seq, automation, run_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![seq, automation, run])?;
    Ok(())
}

/// When `automation`'s schedule last fired.
pub(super) fn fired(
    conn: &Connection,
    automation: &str,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let at: Option<String> = conn
        .prepare_cached("SELECT fired_at FROM schedule_fires WHERE automation = ?1")?
        .query_row([automation], |r| r.get(0))
        .optional()?;
    Ok(at.as_deref().and_then(parse_ts))
}

/// Records that `automation`'s schedule fired `at`, if it last fired `from`
/// (none: never); false if another process recorded a fire first.
pub(super) fn fire(
    conn: &Connection,
    automation: &str,
    from: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let moved = match from {
        None => conn
            .prepare_cached(
                "INSERT INTO schedule_fires (automation, fired_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![automation, ts(at)])?,
        Some(from) => conn
            .prepare_cached(
                "UPDATE schedule_fires SET fired_at = ?3 WHERE automation = ?1 AND fired_at = ?2",
            )?
            .execute(params![automation, ts(from), ts(at)])?,
    };
    Ok(moved == 1)
}

/// Records incoming webhook message `id` for `automation`; false if it was
/// received before.
pub(super) fn receive(
    conn: &Connection,
    automation: &str,
    id: &str,
    at: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let new = conn
        .prepare_cached(
            "INSERT INTO webhook_messages (automation, message_id, received_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![automation, id, ts(at)])?;
    Ok(new == 1)
}
