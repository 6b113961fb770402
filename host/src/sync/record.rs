//! The record of syncs (the `syncs` table): each applied or failed sync,
//! and when a connector's last one finished, for `serve`'s `sync_every`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{Keep, Store, StoreError};

/// How a recorded sync ended: its summary (JSON) or its error.
pub enum Ended<'a> {
    Succeeded(&'a serde_json::Value),
    Failed(&'a str),
}

/// Adds the record of a sync of `connector` that started at `started`,
/// on the writer's connection (in the job that applied it, when it did).
pub fn add(
    conn: &Connection,
    connector: &str,
    started: DateTime<Utc>,
    ended: Ended,
) -> rusqlite::Result<()> {
    let (outcome, summary, error) = match ended {
        Ended::Succeeded(summary) => ("succeeded", Some(summary.to_string()), None),
        Ended::Failed(error) => ("failed", None, Some(error)),
    };
    conn.execute(
        "INSERT INTO syncs (connector, started_at, finished_at, outcome, summary, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            connector,
            crate::time::ts(started),
            crate::time::ts(Utc::now()),
            outcome,
            summary,
            error
        ],
    )?;
    Ok(())
}

/// Records a failed sync in a write job of its own.
pub fn failed(store: &Store, connector: &str, started: DateTime<Utc>, error: &str) {
    let (connector, error) = (connector.to_string(), error.to_string());
    let recorded = store.write_sql_blocking(Keep::IfOk, move |conn| {
        add(conn, &connector, started, Ended::Failed(&error)).map_err(super::SyncError::from)
    });
    if let Err(e) = recorded {
        tracing::warn!("the failed sync could not be recorded: {e}");
    }
}

/// When the last recorded sync of `connector` finished, whatever its
/// outcome.
pub fn last_finished(store: &Store, connector: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let reader = store.reader()?;
    let at: Option<String> = reader
        .query_row(
            "SELECT max(finished_at) FROM syncs WHERE connector = ?1",
            [connector],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| StoreError::sqlite(store.path(), &e))?
        .flatten();
    Ok(at.and_then(|at| crate::time::parse_ts(&at)))
}
