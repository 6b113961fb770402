//! The writer: one thread owns the write connection and commits the work of
//! many callers together (group commit).
//!
//! Callers hand over a job; the thread takes every job waiting, opens one
//! transaction, runs each job in its own savepoint (released if the job
//! succeeded, rolled back if it failed or panicked), commits, and only then
//! answers each caller. One fsync-free WAL commit thus carries the
//! transitions of many runs, and one run's failed guard rolls back only
//! that run's part.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// The most jobs committed in one transaction.
const BATCH: usize = 512;

/// Whether a job's changes are kept when it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Committed (the usual case).
    IfOk,
    /// Rolled back even on success: a rehearsal (`directory import
    /// --dry-run`) that reports what it would change.
    Never,
}

/// One caller's work, and its answer.
trait Job: Send {
    /// Runs inside its savepoint; whether to keep what it did.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the transaction's fate is known (`Err`: the
    /// commit failed, or the job could not run at all).
    fn reply(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Typed<F, R, E> {
    work: Option<F>,
    keep: Keep,
    result: Option<Result<R, E>>,
    answer: oneshot::Sender<Result<R, E>>,
    path: PathBuf,
}

impl<F, R, E> Job for Typed<F, R, E>
where
    F: FnOnce(&Connection) -> Result<R, E> + Send,
    R: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = crate::panics::catch(|| work(conn)).unwrap_or_else(|panic| {
            Err(E::from(StoreError::new(
                &self.path,
                format!("keystep failed inside a write (a bug): {panic}"),
                false,
            )))
        });
        let kept = self.keep == Keep::IfOk && result.is_ok();
        self.result = Some(result);
        kept
    }

    fn reply(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            // The job's own error stands; a success that was not committed
            // is the commit's error.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(E::from(e)),
            (Ok(()), None) => Err(E::from(StoreError::new(
                &self.path,
                "the write was never run",
                true,
            ))),
        };
        let _ = self.answer.send(answer);
    }
}

pub struct Writer {
    /// `None` once closing.
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
}

/// Closing the store waits for the writer to finish what it was given and
/// close its connection, so the last connection's close checkpoints the
/// WAL and removes it, as a single-connection SQLite program leaves it.
impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the writer has done so far, for the engine bench's profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (or attempted).
    pub commits: u64,
    /// Jobs run in them.
    pub jobs: u64,
    /// Time spent running and committing them (the rest it waited).
    pub busy: Duration,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    jobs: AtomicU64,
    busy_ns: AtomicU64,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection, path: PathBuf) -> anyhow::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let thread_path = path.clone();
        let counters = Arc::new(Counters::default());
        let counted = counters.clone();
        let thread = std::thread::Builder::new()
            .name("keystep-writer".into())
            .spawn(move || run(conn, &thread_path, queue, &counted))?;
        Ok(Writer {
            jobs: Some(jobs),
            path,
            thread: Some(thread),
            counters,
        })
    }

    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            commits: c.commits.load(Ordering::Relaxed),
            jobs: c.jobs.load(Ordering::Relaxed),
            busy: Duration::from_nanos(c.busy_ns.load(Ordering::Relaxed)),
        }
    }

    /// Queues `f`; the receiver gets its answer once its transaction
    /// committed, or nothing if the writer has stopped.
    pub fn send<R, E>(
        &self,
        keep: Keep,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> oneshot::Receiver<Result<R, E>>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, receive) = oneshot::channel();
        let job = Typed {
            work: Some(f),
            keep,
            result: None,
            answer,
            path: self.path.clone(),
        };
        // When the thread is gone the job (and its answer) is dropped, and
        // the receiver says so.
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(job));
        }
        receive
    }

    /// The error of a job the writer never answered.
    pub fn gone<E: From<StoreError>>(&self) -> E {
        E::from(StoreError::new(
            &self.path,
            "the store's writer has stopped",
            false,
        ))
    }
}

/// The writer thread: batches until every sender is gone.
fn run(conn: Connection, path: &Path, queue: mpsc::Receiver<Box<dyn Job>>, counters: &Counters) {
    let (batch_size, rest) = match crate::test_hook::delay() {
        Some(delay) => (1, delay / 2),
        None => (BATCH, Duration::ZERO),
    };
    while let Ok(first) = queue.recv() {
        let started = Instant::now();
        let mut batch = vec![first];
        while batch.len() < batch_size {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let jobs = batch.len() as u64;
        commit(&conn, path, batch);
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters.jobs.fetch_add(jobs, Ordering::Relaxed);
        let busy = started.elapsed().as_nanos() as u64;
        counters.busy_ns.fetch_add(busy, Ordering::Relaxed);
        if !rest.is_zero() {
            std::thread::sleep(rest);
        }
    }
}

/// Runs `batch` in one transaction and answers every job.
fn commit(conn: &Connection, path: &Path, batch: Vec<Box<dyn Job>>) {
    let fail = |e: rusqlite::Error| StoreError::sqlite(path, &e);
    let lost = || StoreError::new(path, "the transaction was rolled back by SQLite", true);
    let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut open = false;
    // Whether a kept job changed anything: a batch that keeps nothing is
    // rolled back, so that a rehearsal leaves the files as they were.
    let mut kept_any = false;
    for mut job in batch {
        if open && conn.is_autocommit() {
            // A statement that failed hard (a full disk) ended the whole
            // transaction: what ran before it is gone; say so, and start
            // again for the rest.
            ran.drain(..).for_each(|j| j.reply(Err(lost())));
            (open, kept_any) = (false, false);
        }
        if !open {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                job.reply(Err(fail(e)));
                continue;
            }
            open = true;
        }
        if let Err(e) = run_cached(conn, "SAVEPOINT job") {
            job.reply(Err(fail(e)));
            continue;
        }
        let keep = job.run(conn);
        kept_any |= keep;
        if !conn.is_autocommit() {
            if !keep {
                let _ = run_cached(conn, "ROLLBACK TO job");
            }
            let _ = run_cached(conn, "RELEASE job");
        }
        ran.push(job);
    }
    let committed = if !open {
        Ok(())
    } else if conn.is_autocommit() {
        Err(lost())
    } else if !kept_any {
        conn.execute_batch("ROLLBACK").map_err(fail)
    } else {
        conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            fail(e)
        })
    };
    for job in ran {
        job.reply(committed.clone());
    }
}

/// Runs a statement prepared once per connection: the savepoint statements
/// run twice per job, and parsing them each time showed in the profile.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
