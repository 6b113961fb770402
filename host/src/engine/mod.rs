//! The engine: starts runs and moves them forward, many at once, one
//! durable transition at a time (design section 7).
//!
//! [`Engine`] is owned, `Send + Sync` and cheap to clone. [`Engine::drive`]
//! moves every due run forward on the async runtime, up to `concurrency`
//! runs at once; each run moves one transition at a time ([`transition`]),
//! and the decisions of a transition are the pure functions of
//! [`machine`]. A step's outside effect runs with no transaction open,
//! between two short ones that the store's writer commits together with
//! other runs' (group commit). Runs that wait (timers, retry backoff, child
//! runs) are rows; a process killed at any point resumes where it stopped.

mod breaker;
mod children;
mod drive;
mod finish;
mod isolate;
pub mod machine;
mod settle;
mod starts;
mod transition;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::automation::{Automation, catalog::Catalog, parse};
use crate::config::{DEFAULT_CONCURRENCY, DEFAULT_LEASE, DEFAULT_MAX_DEPTH};
use crate::directory::DirectoryReads;
use crate::effects::{Effects, Functions, Live, Recorder, StoreReader};
use crate::error::Error;
use crate::notify::Notifier;
use crate::plugins::Plugins;
use crate::store::runs::{self, Attempt, Run, RunState};
use crate::store::{Keep, Store, StoreError};

pub use drive::Idle;
pub use machine::Waits;
pub use starts::{Claim, NewRun, Start};
pub use transition::Transition;

/// The stack each thread that moves runs needs: evaluating a CEL
/// expression at the nesting limit takes about 4 MiB in a debug build.
pub const STACK_BYTES: usize = 8 << 20;

/// Told about each step attempt and each run that ends, as they happen.
pub trait Observer: Send + Sync {
    fn attempt(&self, _run: &Run, _attempt: &Attempt) {}
    fn run_ended(&self, _run: &Run) {}
    /// A waiting run (a timer, a retry's backoff) is moved, `late` after
    /// it fell due.
    fn woke(&self, _run: &Run, _late: Duration) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Where the engine reads the time: the real clock, or a fixed instant for
/// `runs resume --now`.
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

/// Why the engine refused a request about a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no run {0}")]
    NoSuchRun(i64),
    #[error("run {id} has already {state}")]
    Ended { id: i64, state: RunState },
    #[error("run {id} has not failed ({state}); only failed runs are reopened")]
    NotFailed { id: i64, state: RunState },
    /// Input that cannot start a run (not a JSON object).
    #[error("{0}")]
    BadInput(String),
    /// Input whose subject is not in the directory (an unknown `user_id`).
    #[error("{0}")]
    UnknownSubject(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The engine, shared by every run it moves.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    catalog: Catalog,
    max_depth: u32,
    owner: String,
    clock: Clock,
    waits: Waits,
    lease: Duration,
    concurrency: usize,
    plugins: Arc<Plugins>,
    effects: Arc<dyn Effects>,
    /// What expressions' `directory.*` functions read: the store.
    directory: Arc<dyn crate::expr::Lookup>,
    interrupt: Option<Arc<AtomicBool>>,
    /// Parsed automation versions, by content hash.
    cache: Mutex<HashMap<String, Arc<Automation>>>,
    /// Runs this process just started, for the drive to take up without
    /// looking for them in the store.
    fresh: drive::Fresh,
}

/// Builds an [`Engine`]; every setting has a default.
pub struct Builder {
    store: Store,
    catalog: Catalog,
    max_depth: u32,
    clock: Clock,
    lease: Duration,
    concurrency: usize,
    plugins: Arc<Plugins>,
    notifier: Option<Arc<Notifier>>,
    dry_run: Option<Functions>,
    /// Effects of the caller's own, made from the live ones (`keystep test`).
    scripted: Option<Scripted>,
    interrupt: Option<Arc<AtomicBool>>,
}

/// Makes the effects a run sees from the live ones.
type Scripted = Box<dyn FnOnce(Live) -> Arc<dyn Effects> + Send>;

impl Builder {
    /// Email, Slack and webhook steps send through this notifier (default:
    /// the outbox beside the store).
    pub fn notifier(mut self, notifier: Arc<Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Connector and function steps use these plugins.
    pub fn plugins(mut self, plugins: Arc<Plugins>) -> Self {
        self.plugins = plugins;
        self
    }

    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How many runs move at once (at least one).
    pub fn concurrency(mut self, runs: usize) -> Self {
        self.concurrency = runs.max(1);
        self
    }

    /// A dry run: effects are recorded, not sent ([`Recorder`]), and waits
    /// pass at once. Meant for a copy of the store.
    pub fn dry_run(mut self, functions: Functions) -> Self {
        self.dry_run = Some(functions);
        self
    }

    /// Effects of the caller's own, made from the live ones (an
    /// automation's tests answer them); waits pass at once, as in a dry run.
    pub fn scripted(
        mut self,
        make: impl FnOnce(Live) -> Arc<dyn Effects> + Send + 'static,
    ) -> Self {
        self.scripted = Some(Box::new(make));
        self
    }

    /// Stops [`Engine::drive`] between transitions once the flag is set.
    pub fn interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    pub fn build(self) -> Engine {
        let notifier = self.notifier.unwrap_or_else(|| {
            let outbox = self.store.path().parent().unwrap_or(Path::new("."));
            Arc::new(Notifier::outbox_only(outbox.join("outbox")))
        });
        let live = Live {
            notifier,
            plugins: self.plugins.clone(),
            directory: Arc::new(StoreReader::new(self.store.clone())),
            logs: Arc::default(),
        };
        let (effects, waits): (Arc<dyn Effects>, Waits) = match (self.scripted, self.dry_run) {
            (Some(make), _) => (make(live), Waits::Skip),
            (None, None) => (Arc::new(live), Waits::Real),
            (None, Some(functions)) => (
                Arc::new(Recorder {
                    live,
                    functions,
                    log: Arc::default(),
                }),
                Waits::Skip,
            ),
        };
        Engine {
            inner: Arc::new(Inner {
                directory: Arc::new(crate::store::DirectoryLookup(self.store.clone())),
                store: self.store,
                catalog: self.catalog,
                max_depth: self.max_depth,
                owner: format!("pid:{}:{:x}", std::process::id(), rand_nonce()),
                clock: self.clock,
                waits,
                lease: self.lease,
                concurrency: self.concurrency,
                plugins: self.plugins,
                effects,
                interrupt: self.interrupt,
                cache: Mutex::default(),
                fresh: drive::Fresh::default(),
            }),
        }
    }
}

impl Engine {
    /// An engine on `store`, starting child runs from `catalog`.
    pub fn builder(store: Store, catalog: Catalog) -> Builder {
        Builder {
            store,
            catalog,
            max_depth: DEFAULT_MAX_DEPTH,
            clock: Clock::System,
            lease: DEFAULT_LEASE,
            concurrency: DEFAULT_CONCURRENCY,
            plugins: Arc::new(Plugins::none()),
            notifier: None,
            dry_run: None,
            scripted: None,
            interrupt: None,
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A scope for expressions over `ctx`, their `directory.*` functions
    /// reading this engine's store.
    pub(crate) fn scope(&self, ctx: &Json) -> crate::expr::Scope {
        crate::expr::Scope::new(ctx).reading(self.inner.directory.clone())
    }

    /// What expressions' `directory.*` functions read: this engine's store.
    pub fn directory(&self) -> &Arc<dyn crate::expr::Lookup> {
        &self.inner.directory
    }

    /// The plugin host the steps call.
    pub fn plugins(&self) -> &Plugins {
        &self.inner.plugins
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn interrupted(&self) -> bool {
        self.inner
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Creates a run of `automation` with `trigger` as its `ctx.trigger`
    /// (see [`Engine::trigger`]): pending, or paused beyond the
    /// automation's circuit breaker.
    pub async fn start(
        &self,
        automation: Arc<Automation>,
        trigger: Json,
    ) -> Result<NewRun, RunError> {
        let start = Start {
            lineage: vec![automation.name.clone()],
            automation,
            trigger,
            event: None,
        };
        let started = self.start_all(vec![start], Box::new(|_| Ok(true))).await?;
        Ok(started
            .into_iter()
            .flatten()
            .flatten()
            .next()
            .expect("an unclaimed start starts its run"))
    }

    /// The `ctx.trigger` a run started with `input` gets: a JSON object,
    /// with the subject's directory record as `user` when it names a
    /// `user_id`. Refuses input that cannot start a run.
    pub fn trigger(&self, input: Json) -> Result<Json, RunError> {
        let input = match input {
            Json::Null => json!({}),
            t @ Json::Object(_) => t,
            other => {
                return Err(RunError::BadInput(format!(
                    "the input must be a JSON object, got {other}"
                )));
            }
        };
        if input.get("user_id").is_none() {
            return Ok(input);
        }
        self.store()
            .read(|tx| Ok::<_, StoreError>(with_subject(&*tx.directory(), input)))?
            .map_err(|e| RunError::UnknownSubject(format!("input: {}", e.message)))
    }

    /// The automation a run is pinned to, parsed from the stored text.
    fn automation(&self, version: &str) -> anyhow::Result<Arc<Automation>> {
        if let Some(a) = self.inner.cache.lock().unwrap().get(version) {
            return Ok(a.clone());
        }
        let found = self.store().read(|tx| {
            tx.runs()
                .version_source(version)
                .map_err(anyhow::Error::from)
        })?;
        let Some((path, source)) = found else {
            anyhow::bail!("pinned automation version {version} is missing from the store")
        };
        let automation = parse(Path::new(&path), &source).map_err(|d| {
            anyhow::anyhow!(
                "pinned automation version {version} no longer parses: {}",
                d[0]
            )
        })?;
        let automation = Arc::new(automation);
        self.inner
            .cache
            .lock()
            .unwrap()
            .insert(version.to_string(), automation.clone());
        Ok(automation)
    }

    /// Until when a transition that leaves a run running keeps it leased.
    fn lease_until(&self) -> DateTime<Utc> {
        let now = self.now();
        machine::later(now, self.inner.lease).unwrap_or(now)
    }

    /// Cancels a run that has not ended, and the child runs it waits on.
    pub async fn cancel(&self, id: i64, reason: &str) -> Result<Run, RunError> {
        let now = self.now();
        let error = format!("cancelled: {reason}");
        self.store()
            .write(Keep::IfOk, move |tx| {
                let run = tx.runs().load(id)?.ok_or(RunError::NoSuchRun(id))?;
                if run.is_terminal() {
                    return Err(RunError::Ended {
                        id,
                        state: run.state,
                    });
                }
                tx.runs().cancel(id, &error, now)?;
                Ok(())
            })
            .await?;
        self.load(id)?.ok_or(RunError::NoSuchRun(id))
    }

    /// Makes a failed run runnable again: it retries the step it failed on.
    pub async fn reopen(&self, id: i64) -> Result<(), RunError> {
        self.store()
            .write(Keep::IfOk, move |tx| {
                let run = tx.runs().load(id)?.ok_or(RunError::NoSuchRun(id))?;
                if !tx.runs().reopen(id)? {
                    return Err(RunError::NotFailed {
                        id,
                        state: run.state,
                    });
                }
                Ok(())
            })
            .await
    }

    /// Run `id` as last committed.
    pub fn load(&self, id: i64) -> Result<Option<Run>, RunError> {
        self.store().read(|tx| Ok(tx.runs().load(id)?))
    }
}

/// The version row of `automation`.
fn version_of(automation: &Automation) -> runs::Version<'_> {
    runs::Version {
        name: &automation.name,
        hash: &automation.hash,
        path: automation.path.to_str().unwrap_or_default(),
        source: &automation.source,
    }
}

/// Adds the subject's directory record as `user` to a trigger that names a
/// `user_id`, so steps can read `ctx.trigger.user.manager_id` and the like.
/// The directory record replaces any `user` the input carries: the caller
/// names the subject, the directory says who that is.
pub(crate) fn with_subject(dir: &dyn DirectoryReads, mut trigger: Json) -> Result<Json, Error> {
    let id = match trigger.get("user_id") {
        None => return Ok(trigger),
        Some(Json::String(id)) => id.clone(),
        Some(other) => {
            return Err(Error::fatal(format!(
                "user_id must be a user id (text), got {other}"
            )));
        }
    };
    let user = dir
        .user(&id)?
        .ok_or_else(|| Error::fatal(format!("user_id: unknown user `{id}`")))?;
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
