//! What the engine sees of the store: traits for the run records, the
//! directory and its event log inside one transaction (a write job) or one
//! consistent read, with SQLite the one implementation.
//!
//! The engine and the steps speak only to [`ReadTx`] and [`WriteTx`], so a
//! PostgreSQL store implements these traits (and the directory's) and
//! changes neither. Every SQL statement of the run state machine stays in
//! [`runs`](super::runs) and [`attempts`](super::attempts); this file only
//! binds them to the traits.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::Value as Json;

use super::breakers::{self, BreakerEntry};
use super::runs::{
    self, Attempt, AttemptState, Origin, Position, Run, RunFilter, RunUpdate, Version,
};
use super::triggers;
use crate::directory::{Directory, DirectoryChanges, DirectoryReads};
use crate::error::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// The run records' reads.
pub trait RunReads {
    /// Run `id`, or none.
    fn load(&self, id: i64) -> Result<Option<Run>>;
    /// The path and text of the automation version `hash`.
    fn version_source(&self, hash: &str) -> Result<Option<(String, String)>>;
    /// Runs due by `now`: pending, running with a lapsed lease, or waiting
    /// with a wake time passed; at most `limit`, oldest first.
    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<i64>>;
    /// When the next waiting run is due.
    fn next_wake(&self) -> Result<Option<DateTime<Utc>>>;
    fn count_waiting(&self) -> Result<i64>;
    /// How many runs are due by `now`.
    fn count_due(&self, now: DateTime<Utc>) -> Result<i64>;
    /// (automation, state, how many runs) for every pair that has runs.
    fn census(&self) -> Result<Vec<(String, String, i64)>>;
    /// The runs `run` started, oldest first.
    fn children(&self, run: i64) -> Result<Vec<i64>>;
    fn list(&self, filter: &RunFilter) -> Result<Vec<Run>>;
    /// A run's attempts in order, performing ones included.
    fn attempts(&self, run: i64) -> Result<Vec<Attempt>>;
    /// The attempt `run` is in, if it is in `state`.
    fn open_attempt(&self, run: &Position, state: AttemptState) -> Result<Option<Attempt>>;
}

/// The run records' changes, inside a write job's transaction.
pub trait RunWrites: RunReads {
    /// A pending run; returns its id.
    fn insert(
        &self,
        version: &Version,
        trigger: &Json,
        parent: Option<i64>,
        lineage: &[String],
        now: DateTime<Utc>,
    ) -> Result<i64>;
    /// Writes `update` if the run is still as `expected` (the guard);
    /// returns whether it was.
    fn update(
        &self,
        expected: &Position,
        update: &RunUpdate,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Extends `owner`'s lease on run `id`; returns whether it still held it.
    fn renew_lease(&self, id: i64, owner: &str, until: DateTime<Utc>) -> Result<bool>;
    /// Cancels run `id` and the children it waits on; returns their ids.
    fn cancel(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<Vec<i64>>;
    /// Makes failed run `id` pending again; returns whether it had failed.
    fn reopen(&self, id: i64) -> Result<bool>;
    /// Records an attempt whose outside effect is about to start.
    fn insert_performing(&self, attempt: &Attempt) -> Result<()>;
    /// Writes `attempt` as it now is, from where it was.
    fn write_attempt(&self, attempt: &Attempt, from: Origin) -> Result<()>;
}

/// The triggers' records (design section 4): where the event matcher is in
/// the event log, and when each schedule fired.
pub trait TriggerReads {
    /// The last event `reader` has matched; none before its first start.
    fn position(&self, reader: &str) -> Result<Option<i64>>;
    /// The newest event's number (0: the log is empty).
    fn last_event(&self) -> Result<i64>;
    /// When `automation`'s schedule last fired.
    fn fired(&self, automation: &str) -> Result<Option<DateTime<Utc>>>;
    /// The run event `seq` started for `automation`, if any.
    fn started_by(&self, seq: i64, automation: &str) -> Result<Option<i64>>;
}

/// The triggers' changes, each guarded so that every event and every fire
/// starts its runs once, however many processes match.
pub trait TriggerWrites: TriggerReads {
    /// Moves `reader` from `from` (none: its first start) to `to`; false
    /// if it was elsewhere.
    fn advance(&self, reader: &str, from: Option<i64>, to: i64) -> Result<bool>;
    /// Records that event `seq` started `run` of `automation` (an error if
    /// it had started one: look with `started_by` first).
    fn record_start(&self, seq: i64, automation: &str, run: i64) -> Result<()>;
    /// Records a fire of `automation`'s schedule at `at` if it last fired
    /// `from`; false if another fire was recorded first.
    fn fire(
        &self,
        automation: &str,
        from: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records incoming webhook message `id` for `automation`; false if it
    /// was received before.
    fn receive(&self, automation: &str, id: &str, at: DateTime<Utc>) -> Result<bool>;
}

/// The circuit breakers' records (`max_runs`).
pub trait BreakerReads {
    /// How many runs of `automation` were created at or after `since`.
    fn created_since(&self, automation: &str, since: DateTime<Utc>) -> Result<u64>;
    /// Whether `automation` has a paused run.
    fn any_paused(&self, automation: &str) -> Result<bool>;
    /// How many times each automation's breaker tripped.
    fn trips(&self) -> Result<Vec<(String, i64)>>;
}

/// The circuit breakers' changes.
pub trait BreakerWrites: BreakerReads {
    /// Pauses run `id`, created pending in this job.
    fn pause(&self, id: i64) -> Result<()>;
    /// Makes every paused run of `automation` pending; returns their ids.
    fn resume_paused(&self, automation: &str, now: DateTime<Utc>) -> Result<Vec<i64>>;
    /// Cancels every paused run of `automation`; returns their ids.
    fn cancel_paused(&self, automation: &str, error: &str, now: DateTime<Utc>) -> Result<Vec<i64>>;
    /// Appends `entry` to the breakers' log.
    fn log(&self, entry: &BreakerEntry) -> Result<()>;
}

/// One consistent read of the store.
pub trait ReadTx {
    fn runs(&self) -> &dyn RunReads;
    fn triggers(&self) -> &dyn TriggerReads;
    fn breakers(&self) -> &dyn BreakerReads;
    /// The directory and its event log.
    fn directory(&self) -> Box<dyn DirectoryReads + '_>;
}

/// One write job: its changes commit together, or not at all.
pub trait WriteTx {
    fn runs(&self) -> &dyn RunWrites;
    fn triggers(&self) -> &dyn TriggerWrites;
    fn breakers(&self) -> &dyn BreakerWrites;
    /// The directory, changed as `actor` (who its events name).
    fn directory(&self, actor: &str) -> Box<dyn DirectoryChanges + '_>;
}

/// The SQLite implementation: one connection, inside the writer's
/// savepoint or on a read connection.
pub(super) struct Sqlite<'c>(pub &'c Connection);

impl Sqlite<'_> {
    fn fail(&self, e: rusqlite::Error) -> StoreError {
        let path = self.0.path().unwrap_or_default();
        StoreError::sqlite(std::path::Path::new(path), &e)
    }

    fn sql<T>(&self, result: rusqlite::Result<T>) -> Result<T> {
        result.map_err(|e| self.fail(e))
    }
}

impl RunReads for Sqlite<'_> {
    fn load(&self, id: i64) -> Result<Option<Run>> {
        self.sql(runs::load(self.0, id))
    }

    fn version_source(&self, hash: &str) -> Result<Option<(String, String)>> {
        self.sql(runs::version_source(self.0, hash))
    }

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<i64>> {
        self.sql(runs::due(self.0, now, limit))
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>> {
        self.sql(runs::next_wake(self.0))
    }

    fn count_waiting(&self) -> Result<i64> {
        self.sql(runs::count_waiting(self.0))
    }

    fn count_due(&self, now: DateTime<Utc>) -> Result<i64> {
        self.sql(runs::count_due(self.0, now))
    }

    fn census(&self) -> Result<Vec<(String, String, i64)>> {
        self.sql(runs::census(self.0))
    }

    fn children(&self, run: i64) -> Result<Vec<i64>> {
        self.sql(runs::children(self.0, run))
    }

    fn list(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        self.sql(runs::list(self.0, filter))
    }

    fn attempts(&self, run: i64) -> Result<Vec<Attempt>> {
        self.sql(runs::attempts(self.0, run))
    }

    fn open_attempt(&self, run: &Position, state: AttemptState) -> Result<Option<Attempt>> {
        self.sql(runs::open_attempt(self.0, run, state))
    }
}

impl RunWrites for Sqlite<'_> {
    fn insert(
        &self,
        version: &Version,
        trigger: &Json,
        parent: Option<i64>,
        lineage: &[String],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.sql(runs::insert(self.0, version, trigger, parent, lineage, now))
    }

    fn update(
        &self,
        expected: &Position,
        update: &RunUpdate,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        self.sql(runs::update(
            self.0,
            expected,
            update,
            owner,
            now,
            lease_until,
        ))
    }

    fn renew_lease(&self, id: i64, owner: &str, until: DateTime<Utc>) -> Result<bool> {
        self.sql(runs::renew_lease(self.0, id, owner, until))
    }

    fn cancel(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<Vec<i64>> {
        self.sql(runs::cancel(self.0, id, error, now))
    }

    fn reopen(&self, id: i64) -> Result<bool> {
        self.sql(runs::reopen(self.0, id))
    }

    fn insert_performing(&self, attempt: &Attempt) -> Result<()> {
        self.sql(runs::insert_performing(self.0, attempt))
    }

    fn write_attempt(&self, attempt: &Attempt, from: Origin) -> Result<()> {
        self.sql(runs::write_attempt(self.0, attempt, from))
    }
}

impl ReadTx for Sqlite<'_> {
    fn runs(&self) -> &dyn RunReads {
        self
    }

    fn triggers(&self) -> &dyn TriggerReads {
        self
    }

    fn breakers(&self) -> &dyn BreakerReads {
        self
    }

    fn directory(&self) -> Box<dyn DirectoryReads + '_> {
        // Reads record nothing, so no one is named as their actor.
        Box::new(Directory::new(self.0, String::new()))
    }
}

impl WriteTx for Sqlite<'_> {
    fn runs(&self) -> &dyn RunWrites {
        self
    }

    fn triggers(&self) -> &dyn TriggerWrites {
        self
    }

    fn breakers(&self) -> &dyn BreakerWrites {
        self
    }

    fn directory(&self, actor: &str) -> Box<dyn DirectoryChanges + '_> {
        Box::new(Directory::new(self.0, actor.to_string()))
    }
}

impl TriggerReads for Sqlite<'_> {
    fn position(&self, reader: &str) -> Result<Option<i64>> {
        self.sql(triggers::position(self.0, reader))
    }

    fn last_event(&self) -> Result<i64> {
        self.sql(triggers::last_event(self.0))
    }

    fn fired(&self, automation: &str) -> Result<Option<DateTime<Utc>>> {
        self.sql(triggers::fired(self.0, automation))
    }

    fn started_by(&self, seq: i64, automation: &str) -> Result<Option<i64>> {
        self.sql(triggers::started_by(self.0, seq, automation))
    }
}

impl TriggerWrites for Sqlite<'_> {
    fn advance(&self, reader: &str, from: Option<i64>, to: i64) -> Result<bool> {
        self.sql(triggers::advance(self.0, reader, from, to))
    }

    fn record_start(&self, seq: i64, automation: &str, run: i64) -> Result<()> {
        self.sql(triggers::record_start(self.0, seq, automation, run))
    }

    fn fire(
        &self,
        automation: &str,
        from: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.sql(triggers::fire(self.0, automation, from, at))
    }

    fn receive(&self, automation: &str, id: &str, at: DateTime<Utc>) -> Result<bool> {
        self.sql(triggers::receive(self.0, automation, id, at))
    }
}

impl BreakerReads for Sqlite<'_> {
    fn created_since(&self, automation: &str, since: DateTime<Utc>) -> Result<u64> {
        self.sql(breakers::created_since(self.0, automation, since))
    }

    fn any_paused(&self, automation: &str) -> Result<bool> {
        self.sql(breakers::any_paused(self.0, automation))
    }

    fn trips(&self) -> Result<Vec<(String, i64)>> {
        self.sql(breakers::trips(self.0))
    }
}

impl BreakerWrites for Sqlite<'_> {
    fn pause(&self, id: i64) -> Result<()> {
        self.sql(breakers::pause(self.0, id))
    }

    fn resume_paused(&self, automation: &str, now: DateTime<Utc>) -> Result<Vec<i64>> {
        self.sql(breakers::resume_paused(self.0, automation, now))
    }

    fn cancel_paused(&self, automation: &str, error: &str, now: DateTime<Utc>) -> Result<Vec<i64>> {
        self.sql(breakers::cancel_paused(self.0, automation, error, now))
    }

    fn log(&self, entry: &BreakerEntry) -> Result<()> {
        self.sql(breakers::log(self.0, entry))
    }
}
