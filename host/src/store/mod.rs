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

mod attempts;
pub mod breakers;
mod lookup;
mod readers;
pub mod runs;
mod states;
mod triggers;
pub mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

pub use crate::error::StoreError;
pub use lookup::DirectoryLookup;
pub use readers::Reader;
pub use tx::{
    BreakerReads, BreakerWrites, ReadTx, RunReads, RunWrites, TriggerReads, TriggerWrites, WriteTx,
};
pub use writer::{Keep, WriterStats};

const SCHEMA: &str = include_str!("schema.sql");
/// Attempts whose effect is under way: new in schema 2.
const PERFORMING: &str = include_str!("performing.sql");
const MIGRATE_2: &str = include_str!("migrate_2.sql");
const MIGRATE_3: &str = include_str!("migrate_3.sql");
const MIGRATE_4: &str = include_str!("migrate_4.sql");
const MIGRATE_5: &str = include_str!("migrate_5.sql");
const MIGRATE_6: &str = include_str!("migrate_6.sql");
const SCHEMA_VERSION: i64 = 6;

/// The scripts that bring a store at schema `version` (0: a new one) to
/// [`SCHEMA_VERSION`], in order. (Schema 1 had no `performing` table, and
/// a new store is built at schema 2 and migrated from there.)
fn scripts_from(version: i64) -> Vec<&'static str> {
    let mut scripts = match version {
        0 => vec![SCHEMA, PERFORMING, MIGRATE_3],
        1 => vec![MIGRATE_2, PERFORMING, MIGRATE_3],
        2 => vec![MIGRATE_3],
        _ => vec![],
    };
    let later = [MIGRATE_4, MIGRATE_5, MIGRATE_6];
    scripts.extend(&later[(version.max(3) - 3) as usize..]);
    scripts
}

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The store, shared.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// Fields drop in order: the read connections close before the writer's,
/// which closes last and so checkpoints and removes the WAL.
struct Shared {
    path: PathBuf,
    readers: readers::Readers,
    writer: writer::Writer,
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
    pub fn read<R, E>(&self, f: impl FnOnce(&dyn ReadTx) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        self.shared.readers.with(|conn| f(&tx::Sqlite(conn)))
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
        f: impl FnOnce(&dyn WriteTx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_sql(keep, move |conn| f(&tx::Sqlite(conn))).await
    }

    /// A write job on the writer's connection itself: what
    /// [`Store::write`] wraps in the traits, and what the tests of group
    /// commit use.
    async fn write_sql<R, E>(
        &self,
        keep: Keep,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let writer = &self.shared.writer;
        writer
            .send(keep, f)
            .await
            .unwrap_or_else(|_| Err(writer.gone()))
    }

    /// [`Store::write`] for callers outside the async runtime (the CLI's
    /// own changes). Must not be called from inside it.
    pub fn write_blocking<R, E>(
        &self,
        keep: Keep,
        f: impl FnOnce(&dyn WriteTx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_sql_blocking(keep, move |conn| f(&tx::Sqlite(conn)))
    }

    /// A write job on the SQLite connection itself, outside the traits:
    /// the directory import (whose replace mode deletes with SQL of its
    /// own) and tests that set up tables. The engine never uses it.
    pub fn write_sql_blocking<R, E>(
        &self,
        keep: Keep,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let writer = &self.shared.writer;
        writer
            .send(keep, f)
            .blocking_recv()
            .unwrap_or_else(|_| Err(writer.gone()))
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
        self.shared.readers.with(|conn| {
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
    tune(&conn)?;
    conn.execute_batch(
        "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 4000;",
    )?;
    Ok(conn)
}

/// Settings of every connection, writer and readers:
/// - the busy timeout, for other processes' writers;
/// - the query planner stability guarantee: without it the bundled SQLite
///   (built with STAT4) re-prepares a statement each time a rebound
///   parameter might change its plan (any parameter compared where a
///   partial index could apply), which measured a quarter of the readers'
///   CPU in the engine bench;
/// - room for every statement the store and the directory cache (rusqlite
///   keeps 16 by default, fewer than the settle path uses).
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// The pragmas of the store's connections, for a baseline that measures
/// bare SQLite under the same settings (the engine bench).
pub fn open_like_the_store(path: &Path) -> rusqlite::Result<Connection> {
    open_writer(path)
}

/// Brings the schema to [`SCHEMA_VERSION`]. Foreign keys are off while it
/// does (schema 4 rebuilds `runs`, which other tables reference) and checked
/// before it commits.
fn migrate(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE")?;
    let result = (|| -> anyhow::Result<()> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let steps = match version {
            SCHEMA_VERSION => return Ok(()),
            newer if newer > SCHEMA_VERSION => anyhow::bail!(
                "store {} has schema version {newer}, newer than this keystep understands ({SCHEMA_VERSION})",
                path.display()
            ),
            older => scripts_from(older).join("\n"),
        };
        conn.execute_batch(&steps)?;
        let broken: i64 =
            conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        anyhow::ensure!(
            broken == 0,
            "store {}: migrating to schema {SCHEMA_VERSION} left {broken} broken references",
            path.display()
        );
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        Ok(())
    })();
    let ended = match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(anyhow::Error::from),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    };
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("keystep.db")).unwrap();
        store
            .write_sql_blocking(Keep::IfOk, |conn| {
                conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
                    .map_err(crate::error::Error::from)
            })
            .unwrap();
        (dir, store)
    }

    fn rows(store: &Store) -> Vec<i64> {
        let reader = store.reader().unwrap();
        let mut stmt = reader.prepare("SELECT n FROM t ORDER BY n").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn insert(n: i64) -> impl FnOnce(&Connection) -> Result<(), crate::error::Error> + Send {
        move |conn| {
            conn.execute("INSERT INTO t VALUES (?1)", [n])?;
            Ok(())
        }
    }

    #[test]
    fn jobs_committed_together_keep_their_own_parts_only() {
        let (_dir, store) = store();
        let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
        let answers = runtime.block_on(async {
            let jobs = (1..=60).map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    match n % 3 {
                        // Writes, then fails: its insert is rolled back.
                        0 => {
                            store
                                .write_sql(Keep::IfOk, move |conn| {
                                    insert(n)(conn)?;
                                    Err(crate::error::Error::fatal("refused"))
                                })
                                .await
                        }
                        // Writes, then panics: rolled back too, and the
                        // writer goes on.
                        1 if n == 31 => {
                            store
                                .write_sql(
                                    Keep::IfOk,
                                    move |conn| -> Result<(), crate::error::Error> {
                                        insert(n)(conn)?;
                                        panic!("a bug in one job")
                                    },
                                )
                                .await
                        }
                        _ => store.write_sql(Keep::IfOk, insert(n)).await,
                    }
                })
            });
            let mut answers = Vec::new();
            for job in jobs.collect::<Vec<_>>() {
                answers.push(job.await.unwrap());
            }
            answers
        });
        let kept: Vec<i64> = (1..=60).filter(|n| n % 3 != 0 && *n != 31).collect();
        assert_eq!(rows(&store), kept);
        assert!(
            answers[30]
                .as_ref()
                .unwrap_err()
                .message
                .contains("a bug in one job")
        );
        assert_eq!(answers[2].as_ref().unwrap_err().message, "refused");
        assert!(answers[0].is_ok());
    }

    #[test]
    fn a_rehearsal_answers_but_keeps_nothing() {
        let (_dir, store) = store();
        let counted = store
            .write_sql_blocking(Keep::Never, |conn| {
                insert(7)(conn)?;
                Ok::<i64, crate::error::Error>(conn.query_row(
                    "SELECT count(*) FROM t",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(counted, 1, "the rehearsal saw its own insert");
        assert!(rows(&store).is_empty());
    }

    #[test]
    fn a_version_1_store_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            // Schema 1: step attempts without their key, no performing table.
            let v1 = SCHEMA.replace(
                "    idempotency_key TEXT,                        -- what the outside world received: run/step/attempt\n",
                "",
            );
            conn.execute_batch(&v1).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO automation_versions VALUES ('h', 'a', 'a.yaml', 's', 't');
                 INSERT INTO runs (automation, version, state, trigger, wake_at, awaiting_run, created_at, updated_at)
                     VALUES ('a', 'h', 'waiting', '{}', '9999-12-31T00:00:00.000Z', 2, 't', 't');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let reader = store.reader().unwrap();
        let run = runs::load(&reader, 1).unwrap().unwrap();
        assert_eq!(run.wake_at, None, "until woken");
        let version: i64 = reader
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let performing: i64 = reader
            .query_row("SELECT count(*) FROM performing_attempts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(performing, 0);
    }

    /// With the query planner stability guarantee on, a parameter still
    /// reaches the partial indexes whose condition it implies.
    #[test]
    fn tuned_connections_use_the_partial_indexes() {
        let (_dir, store) = store();
        let conn = store.reader().unwrap();
        for (query, index) in [
            (
                "SELECT id FROM runs WHERE parent_run = ?1 ORDER BY id",
                "runs_parent",
            ),
            (
                "UPDATE runs SET wake_at = ?2 WHERE awaiting_run = ?1 AND state = 'waiting'",
                "runs_awaiting",
            ),
        ] {
            let mut explain = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .unwrap();
            let params = vec![1; explain.parameter_count()];
            let plan: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(params), |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{query}: {plan:?}"
            );
        }
    }
}
