//! The store: one SQLite database (WAL) holding the directory, runs, step
//! attempts, timers and the event log.
//!
//! [`Store`] is a cheap handle, `Send + Sync`, shared by every run in
//! flight. Changes go to one writer thread ([`writer`]), which commits the
//! work of many callers in one transaction (group commit), each caller's
//! part in its own savepoint so that one caller's failure rolls back only
//! its own part, and answers each caller once its part is durable. Reads go
//! to a pool of read-only connections ([`Store::read`]) and never wait for
//! the writer: WAL lets readers see the last commit while a write goes on.

mod readers;
pub mod runs;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

pub use readers::Reader;
pub use writer::{Keep, WriterStats};

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: i64 = 2;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store {path}: {message}")]
pub struct StoreError {
    pub path: String,
    pub message: String,
    /// Whether it may pass: a busy or locked database, a full disk, a
    /// failed read or write. SQLite rolls the transaction back in each
    /// case, so nothing is half written.
    pub transient: bool,
}

impl StoreError {
    fn new(path: &Path, message: impl Into<String>, transient: bool) -> StoreError {
        StoreError {
            path: path.display().to_string(),
            message: message.into(),
            transient,
        }
    }

    fn sqlite(path: &Path, e: &rusqlite::Error) -> StoreError {
        StoreError::new(path, e.to_string(), crate::error::is_transient(e))
    }
}

impl From<StoreError> for crate::error::Error {
    fn from(e: StoreError) -> crate::error::Error {
        crate::error::Error::new(e.to_string(), e.transient)
    }
}

/// The store, shared.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    writer: writer::Writer,
    readers: readers::Readers,
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
        let conn = open_writer(path)
            .map_err(|e| anyhow::anyhow!("cannot open store {}: {e}", path.display()))?;
        migrate(&conn, path)?;
        let store = Store {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                writer: writer::Writer::start(conn, path.to_path_buf())?,
                readers: readers::Readers::new(path.to_path_buf()),
            }),
        };
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `f` on a read connection: it sees the last commit, and never
    /// waits for the writer.
    pub fn read<R, E>(&self, f: impl FnOnce(&Connection) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        self.shared.readers.with(f)
    }

    /// A read connection for a while (the CLI's reports); given back to
    /// the pool when dropped.
    pub fn reader(&self) -> Result<Reader<'_>, StoreError> {
        self.shared.readers.take()
    }

    /// Runs `f` inside the writer's transaction, in a savepoint of its own:
    /// kept if it returns `Ok` (and `keep` says so), rolled back if it
    /// fails or panics. Answers once the transaction holding it committed.
    pub async fn write<R, E>(
        &self,
        keep: Keep,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.shared.writer.submit(keep, f).await
    }

    /// [`Store::write`] for callers outside the async runtime (the CLI's
    /// own changes). Must not be called from inside it.
    pub fn write_blocking<R, E>(
        &self,
        keep: Keep,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.shared.writer.submit_blocking(keep, f)
    }

    /// What the writer has done so far: commits, jobs, busy time (the
    /// engine bench's profile of group commit).
    pub fn writer_stats(&self) -> WriterStats {
        self.shared.writer.stats()
    }

    /// A consistent copy of the whole database at `to`, for a dry run to
    /// change as it likes.
    pub fn copy_to(&self, to: &Path) -> Result<(), StoreError> {
        let target = to.to_string_lossy().into_owned();
        self.read(|conn| {
            conn.execute("VACUUM INTO ?1", [target])
                .map_err(|e| StoreError::sqlite(self.path(), &e))
        })?;
        Ok(())
    }
}

/// The writer's connection. WAL with synchronous=NORMAL survives any
/// process crash (kill -9); only an OS crash or power loss can drop the
/// last commits. Commits do not fsync; checkpoints do, so they run every
/// 4,000 pages of WAL rather than SQLite's default 1,000. 2 KB pages (for a
/// new database) write half the bytes of the default 4 KB and measured
/// ~15% more transitions per second.
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 4000;",
    )?;
    Ok(conn)
}

/// The pragmas of the store's connections, for a baseline that measures
/// bare SQLite under the same settings (the engine bench).
pub fn open_like_the_store(path: &Path) -> rusqlite::Result<Connection> {
    open_writer(path)
}

/// Brings the schema to [`SCHEMA_VERSION`].
fn migrate(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> anyhow::Result<()> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        match version {
            0 => conn.execute_batch(SCHEMA)?,
            1 => conn.execute_batch(include_str!("migrate_2.sql"))?,
            SCHEMA_VERSION => return Ok(()),
            newer => anyhow::bail!(
                "store {} has schema version {newer}, newer than this keystep understands ({SCHEMA_VERSION})",
                path.display()
            ),
        }
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
