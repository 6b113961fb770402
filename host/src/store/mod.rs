//! The store: one SQLite database (WAL) holding the directory, runs, step
//! attempts, timers and the event log.
//!
//! Every change goes through [`Store::write`], one `BEGIN IMMEDIATE`
//! transaction, so a step's effect and the run's next state commit together.
//! A dry run wraps a whole run in an outer transaction that is rolled back;
//! `write` then nests as savepoints.

pub mod runs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

use crate::directory::Directory;

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: i64 = 1;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open store {}: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL with synchronous=NORMAL survives any process crash (kill -9);
        // only an OS crash or power loss can drop the last commits. Commits
        // do not fsync; checkpoints do, so they run every 4,000 pages of WAL
        // rather than SQLite's default 1,000. A transition dirties about ten
        // pages; 2 KB pages (for a new database) write half the bytes of the
        // default 4 KB and measured ~15% more transitions per second.
        conn.execute_batch(
            "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = 4000;",
        )?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> anyhow::Result<()> {
        self.write(|conn| {
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            match version {
                0 => {
                    conn.execute_batch(SCHEMA)?;
                    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
                    Ok(())
                }
                SCHEMA_VERSION => Ok(()),
                newer => Err(anyhow::anyhow!(
                    "store {} has schema version {newer}, newer than this keystep understands ({SCHEMA_VERSION})",
                    self.path.display()
                )),
            }
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The directory, for reads outside a transaction (and the CLI's own
    /// changes, inside [`Store::write`]).
    pub fn directory(&self, actor: &str) -> Directory<'_> {
        Directory::new(&self.conn, actor.to_string())
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled
    /// back otherwise. Nested inside a dry run, it is a savepoint.
    pub fn write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let nested = !self.conn.is_autocommit();
        let (begin, commit, rollback) = if nested {
            (
                "SAVEPOINT step",
                "RELEASE step",
                "ROLLBACK TO step; RELEASE step",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        self.conn.execute_batch(begin)?;
        // Rolls back when `f` fails or panics (the engine catches a panic
        // inside one run and goes on with the others).
        let open = Open {
            conn: &self.conn,
            rollback: Some(rollback),
        };
        let value = f(&self.conn)?;
        open.keep();
        self.conn.execute_batch(commit)?;
        Ok(value)
    }

    /// Starts a dry run: every later change is undone by [`Store::end_dry_run`].
    pub fn begin_dry_run(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")
    }

    pub fn end_dry_run(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("ROLLBACK")
    }
}

/// An open transaction or savepoint, rolled back when dropped unless kept.
struct Open<'c> {
    conn: &'c Connection,
    rollback: Option<&'static str>,
}

impl Open<'_> {
    fn keep(mut self) {
        self.rollback = None;
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if let Some(rollback) = self.rollback {
            // The transaction may already be gone (a failed statement can
            // roll back by itself); the error that matters is the caller's.
            let _ = self.conn.execute_batch(rollback);
        }
    }
}

/// Whether a store error may pass when tried again: a busy or locked
/// database, a full disk (`SQLITE_FULL`, which SQLite also returns for
/// ENOSPC) or a failed read or write. SQLite rolls the transaction back in
/// each case, so nothing is half written.
pub fn is_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure))
}

/// Formats a timestamp the way the store keeps it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a timestamp the store wrote.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
