//! The engine: starts runs and moves them forward, one durable transition at
//! a time (design section 7).
//!
//! A transition runs one step attempt and commits its result together with
//! the run's next state. Runs that wait (timers, retry backoff, child runs)
//! are rows with a `wake_at`; [`Engine::drive`] picks up every run that is
//! due, so a process killed at any point resumes where it stopped.

mod children;
mod isolate;
mod test_hook;
mod transition;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::automation::{Automation, catalog::Catalog, parse};
use crate::notify::Notifier;
use crate::plugins::Plugins;
use crate::steps::{PluginCx, StoreReader};
use crate::store::Store;
use crate::store::runs::{self, Attempt, Run};

pub use transition::Transition;

/// How far `run_automation` may nest.
pub const DEFAULT_MAX_DEPTH: u32 = 8;

/// How long a process keeps a run it is working on before another process
/// may take it over (sooner if the holder's process is gone).
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Told about each step attempt and each run that ends, as they happen.
pub trait Observer {
    fn attempt(&mut self, _run: &Run, _attempt: &Attempt) {}
    fn run_ended(&mut self, _run: &Run) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Where the engine reads the time: the real clock, or a fixed instant for
/// `runs resume --now` and dry runs.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    #[default]
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// What [`Engine::drive`] stopped on.
#[derive(Debug, PartialEq)]
pub enum Idle {
    /// No run is due; the next one falls due then (if any).
    Until(Option<DateTime<Utc>>),
    /// Interrupted (Ctrl-C).
    Interrupted,
}

pub struct Engine<'s> {
    store: &'s Store,
    catalog: Catalog,
    max_depth: u32,
    owner: String,
    pub clock: Clock,
    /// Steps with outside effects only describe what they would do.
    pub dry_run: bool,
    cache: RefCell<HashMap<String, Arc<Automation>>>,
    interrupt: Option<Arc<AtomicBool>>,
    plugins: PluginCx,
    notifier: Arc<Notifier>,
}

impl<'s> Engine<'s> {
    pub fn new(store: &'s Store, catalog: Catalog) -> Engine<'s> {
        Engine {
            store,
            catalog,
            max_depth: DEFAULT_MAX_DEPTH,
            owner: format!("pid:{}:{:x}", std::process::id(), rand_nonce()),
            clock: Clock::System,
            dry_run: false,
            cache: RefCell::new(HashMap::new()),
            interrupt: None,
            plugins: PluginCx {
                host: Arc::new(Plugins::none()),
                directory: Arc::new(StoreReader::new(store.path())),
            },
            notifier: Arc::new(Notifier::outbox_only(
                store
                    .path()
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("outbox"),
            )),
        }
    }

    /// Email, Slack and webhook steps send through this notifier.
    pub fn with_notifier(mut self, notifier: Arc<Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// Connector and function steps use these plugins.
    pub fn with_plugins(mut self, plugins: Arc<Plugins>) -> Self {
        self.plugins.host = plugins;
        self
    }

    pub fn with_max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// Stops [`Engine::drive`] between transitions once the flag is set.
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Creates a pending run of `automation` with `trigger` as its
    /// `ctx.trigger`. The subject is `trigger.user_id`, which must be a
    /// known user when given.
    pub fn start(&self, automation: Arc<Automation>, trigger: Json) -> anyhow::Result<i64> {
        let trigger = self.trigger(trigger)?;
        let now = self.clock.now();
        let lineage = std::slice::from_ref(&automation.name);
        let id = self
            .store
            .write(|conn| runs::insert(conn, &automation, &trigger, None, lineage, now))?;
        self.cache
            .borrow_mut()
            .insert(automation.hash.clone(), automation);
        Ok(id)
    }

    /// The `ctx.trigger` a run started with `input` gets: a JSON object,
    /// with the subject's directory record as `user` when it names a
    /// `user_id`. Refuses input that cannot start a run.
    pub fn trigger(&self, input: Json) -> anyhow::Result<Json> {
        let input = match input {
            Json::Null => json!({}),
            t @ Json::Object(_) => t,
            other => anyhow::bail!("the input must be a JSON object, got {other}"),
        };
        with_subject(&self.store.directory("cli"), input)
            .map_err(|e| anyhow::anyhow!("input: {}", e.message))
    }

    /// The automation a run is pinned to, parsed from the stored text.
    fn automation(&self, version: &str) -> anyhow::Result<Arc<Automation>> {
        if let Some(a) = self.cache.borrow().get(version) {
            return Ok(a.clone());
        }
        let (path, source) = match runs::version_source(self.store.conn(), version) {
            Err(rusqlite::Error::QueryReturnedNoRows) => {
                anyhow::bail!("pinned automation version {version} is missing from the store")
            }
            found => found?,
        };
        let automation = parse(Path::new(&path), &source).map_err(|d| {
            anyhow::anyhow!(
                "pinned automation version {version} no longer parses: {}",
                d[0]
            )
        })?;
        let automation = Arc::new(automation);
        self.cache
            .borrow_mut()
            .insert(version.to_string(), automation.clone());
        Ok(automation)
    }

    /// Moves every due run forward until none is due.
    pub fn drive(&self, observer: &mut dyn Observer) -> anyhow::Result<Idle> {
        loop {
            let due = runs::due(self.store.conn(), self.clock.now(), 256)?;
            let mut progressed = false;
            for id in due {
                if self.interrupted() {
                    return Ok(Idle::Interrupted);
                }
                progressed |= self.run_until_parked(id, observer)?;
            }
            if self.interrupted() {
                return Ok(Idle::Interrupted);
            }
            if !progressed {
                return Ok(Idle::Until(runs::next_wake(self.store.conn())?));
            }
        }
    }

    /// Runs one run's transitions until it ends or waits. Returns false if
    /// another live process holds it. The lease is taken and given back in
    /// the transitions' own transactions. A panic or an error of this run
    /// alone fails it, and the engine goes on with the others.
    fn run_until_parked(&self, id: i64, observer: &mut dyn Observer) -> anyhow::Result<bool> {
        let Some(mut run) = runs::load(self.store.conn(), id)? else {
            return Ok(false);
        };
        if runs::held_by_other(&run, &self.owner, self.clock.now(), process_alive) {
            return Ok(false);
        }
        while !self.interrupted() {
            let broken = match isolate::catch(|| self.transition(&mut run, observer)) {
                Ok(Ok(Transition::Advanced)) => continue,
                Ok(Ok(_)) => break,
                Ok(Err(e)) if isolate::is_store_error(&e) => return Err(e),
                Ok(Err(e)) => format!("{e:#}"),
                Err(panic) => format!("keystep failed inside this run (a bug): {panic}"),
            };
            self.fail_broken(id, &broken, observer)?;
            break;
        }
        Ok(true)
    }

    /// A step's transaction that the store refused, as the step's error:
    /// naming the database file, and retryable when the cause may pass (a
    /// full disk, a busy database).
    fn store_failure(&self, e: rusqlite::Error) -> crate::steps::StepError {
        crate::steps::StepError {
            retryable: crate::store::is_transient(&e),
            message: format!("store {}: {e}", self.store.path().display()),
        }
    }

    /// Until when a transition that leaves a run running keeps it leased.
    fn lease_until(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        now.checked_add_signed(LEASE).unwrap_or(now)
    }

    /// Cancels a run that has not ended, and the child runs it waits on.
    pub fn cancel(&self, id: i64, reason: &str) -> anyhow::Result<Run> {
        let now = self.clock.now();
        let run = runs::load(self.store.conn(), id)?.with_context(|| format!("no run {id}"))?;
        anyhow::ensure!(!run.is_terminal(), "run {id} has already {}", run.state);
        let error = format!("cancelled: {reason}");
        self.store.write(|conn| -> anyhow::Result<()> {
            let mut next = Some(run);
            while let Some(run) = next.filter(|r| !r.is_terminal()) {
                if let Some(mut waiting) = runs::waiting_attempt(conn, &run)? {
                    waiting.state = "failed".into();
                    waiting.error = Some(error.clone());
                    waiting.finished_at = Some(crate::store::ts(now));
                    runs::finish_attempt(conn, &waiting)?;
                }
                conn.execute(
                    "UPDATE runs SET state = 'cancelled', error = ?2, finished_at = ?3, updated_at = ?3,
                        wake_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                    rusqlite::params![run.id, error, crate::store::ts(now)],
                )?;
                runs::wake_parent(conn, run.id, now)?;
                next = run.awaiting_run.map(|c| runs::load(conn, c)).transpose()?.flatten();
            }
            Ok(())
        })?;
        Ok(runs::load(self.store.conn(), id)?.expect("run exists"))
    }

    /// Makes a failed run runnable again: it retries the step it failed on.
    pub fn reopen(&self, id: i64) -> anyhow::Result<()> {
        let changed = self.store.write(|conn| {
            conn.execute(
                "UPDATE runs SET state = 'pending', error = NULL, finished_at = NULL, wake_at = NULL WHERE id = ?1 AND state = 'failed'",
                [id],
            )
        })?;
        anyhow::ensure!(
            changed == 1,
            "run {id} has not failed; only failed runs are reopened"
        );
        Ok(())
    }
}

/// Adds the subject's directory record as `user` to a trigger that names a
/// `user_id`, so steps can read `ctx.trigger.user.manager_id` and the like.
/// The directory record replaces any `user` the input carries: the caller
/// names the subject, the directory says who that is.
pub(crate) fn with_subject(
    dir: &crate::directory::Directory,
    mut trigger: Json,
) -> Result<Json, crate::steps::StepError> {
    let id = match trigger.get("user_id") {
        None => return Ok(trigger),
        Some(Json::String(id)) => id.clone(),
        Some(other) => {
            return Err(crate::steps::StepError::fatal(format!(
                "user_id must be a user id (text), got {other}"
            )));
        }
    };
    let user = dir
        .user(&id)?
        .ok_or_else(|| crate::steps::StepError::fatal(format!("user_id: unknown user `{id}`")))?;
    trigger["user"] = user.to_json();
    Ok(trigger)
}

/// Whether the process named in a lease (`pid:N:nonce`) still runs here.
fn process_alive(owner: &str) -> bool {
    let pid = owner.split(':').nth(1).unwrap_or("");
    if pid.is_empty() || !cfg!(target_os = "linux") {
        return true;
    }
    Path::new("/proc").join(pid).exists()
}

fn rand_nonce() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
