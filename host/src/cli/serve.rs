//! `keystep serve`: the long-running process. It drives every due run
//! (timers, retry backoffs, parents of finished children), sleeping until
//! the next one falls due with no task or thread held per waiting run, and
//! starts runs from the directory's events; automation files are reloaded
//! as they change. SIGTERM or SIGINT stops it: no new work is taken, steps
//! in flight get `serve.shutdown_grace` to finish, and the rest resumes on
//! the next start (an effect cut short is performed again with its key).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use super::logs::LogFormat;
use super::{Env, Exit, render};
use crate::api::{Api, Ended, Metrics, Tokens};
use crate::engine::{Engine, Idle, Observer};
use crate::store::runs::{Attempt, AttemptState, Run};
use crate::triggers::automations::{Automations, Refresh};
use crate::triggers::events::{EventMatcher, Pass};
use crate::triggers::schedules::{Fired, Scheduler};

/// The longest the driver sleeps: runs that another process made due (a
/// `keystep run --detach`) are picked up within it.
const MOST_NAP: Duration = Duration::from_secs(1);

/// How often the event log and the automation files are looked at.
const POLL: Duration = Duration::from_millis(200);

/// How many full batches of events one look reads before the next.
const MOST_BATCHES: usize = 8;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the HTTP API listens (`127.0.0.1:8080`; port 0 picks a free
    /// one, said in the log), instead of `serve.listen`.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// How log lines are written: text, or JSON lines with every field.
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
}

pub fn serve(env: &Env, args: ServeArgs) -> anyhow::Result<Exit> {
    let store = env.app.open_store()?;
    let stop = Arc::new(AtomicBool::new(false));
    let engine = env.app.engine(&store).interrupt(stop.clone()).build();
    let settings = &env.app.config.serve;
    let grace = settings.shutdown_grace;
    let wake = Arc::new(Notify::new());
    let ended = Arc::new(Ended::default());
    let metrics = Arc::new(Metrics::default());
    let api = Arc::new(Api::new(
        engine.clone(),
        Tokens::load(&settings.tokens)?,
        wake.clone(),
        ended.clone(),
        metrics.clone(),
    ));
    let mut automations = Automations::new(env.app.catalog());
    env.app.runtime().block_on(async {
        let mut signals = Signals::new()?;
        say(&automations.refresh());
        api.serve(automations.all(), &automations);
        let matcher = EventMatcher::new(engine.clone());
        let scheduler = Scheduler::new(engine.clone());
        let position = matcher.position().await?;
        let closing = Arc::new(Notify::new());
        if let Some(addr) = args.listen.or(settings.listen) {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            info!("listening on http://{}", listener.local_addr()?);
            let (router, closing) = (crate::api::router(api.clone()), closing.clone());
            tokio::spawn(async move {
                let closed = async move { closing.notified().await };
                if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(closed).await {
                    error!("the HTTP API stopped: {e}");
                }
            });
        }
        api.ready();
        info!(
            "serving {} automations from {}; reacting to events after {position}",
            automations.all().len(),
            store.path().display()
        );
        let observer: Arc<dyn Observer> = Arc::new(Log {
            ended: ended.clone(),
            metrics: metrics.clone(),
        });
        let driver = tokio::spawn(drive(engine.clone(), wake.clone(), observer));
        let plugins = env.app.plugins();
        let syncs = crate::sync::scheduled(&plugins);
        for (connector, every) in &syncs {
            info!(connector = %connector, "syncing connector {connector} every {}", humantime::format_duration(*every));
        }
        let (closing_syncs, stop_syncs) = (closing.clone(), stop.clone());
        tokio::spawn(crate::sync::run_scheduled(plugins, store.clone(), syncs, stop_syncs, closing_syncs));
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = signals.next() => break,
                _ = poll.tick() => {
                    say(&automations.refresh());
                    let serving = automations.all();
                    api.serve(serving.clone(), &automations);
                    // A full batch: read on at once (a few batches, so that
                    // a signal is not kept waiting behind a long backlog).
                    for _ in 0..MOST_BATCHES {
                        match matcher.pass(&serving).await {
                            Ok(pass) => {
                                told(&pass, &wake, &metrics);
                                if !pass.full() {
                                    break;
                                }
                            }
                            Err(e) => {
                                error!("matching events failed (tried again): {e:#}");
                                break;
                            }
                        }
                    }
                    match scheduler.pass(&serving).await {
                        Ok(fired) => rang(&fired, &wake, &metrics),
                        Err(e) => error!("firing schedules failed (tried again): {e:#}"),
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        wake.notify_one();
        closing.notify_waiters();
        info!(
            "stopping: no new work; steps in flight have {} to finish",
            humantime::format_duration(grace)
        );
        tokio::select! {
            driven = driver => driven??,
            _ = tokio::time::sleep(grace) => warn!("the grace period ended: what was in flight resumes on the next start"),
            _ = signals.next() => warn!("stopping now: what was in flight resumes on the next start"),
        }
        info!("stopped");
        Ok(Exit::Ok)
    })
}

/// Drives due runs until stopped; between drives, sleeps until the next
/// run falls due (at most [`MOST_NAP`]) or until woken.
async fn drive(
    engine: Engine,
    wake: Arc<Notify>,
    observer: Arc<dyn Observer>,
) -> anyhow::Result<()> {
    loop {
        match engine.drive(observer.clone()).await? {
            Idle::Interrupted => return Ok(()),
            Idle::Until(next) => {
                let nap = next
                    .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                    .map_or(MOST_NAP, |d| d.min(MOST_NAP));
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = wake.notified() => {}
                }
            }
        }
    }
}

/// SIGTERM and SIGINT, registered at start so neither kills the process.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

fn say(refresh: &Refresh) {
    for name in &refresh.loaded {
        info!(automation = %name, "loaded automation {name}");
    }
    for problem in &refresh.problems {
        warn!("{}", render::escape_lines(problem));
    }
}

/// Reports a matcher pass, and wakes the driver for the runs it started.
fn told(pass: &Pass, wake: &Notify, metrics: &Metrics) {
    for refused in &pass.refused {
        warn!("{refused}");
    }
    for started in &pass.started {
        metrics.started(&started.trigger, 1);
        metrics.trigger_lag(started.lag);
    }
    if !pass.started.is_empty() {
        wake.notify_one();
    }
}

/// Reports the schedules that fired, and wakes the driver for their runs.
fn rang(fired: &[Fired], wake: &Notify, metrics: &Metrics) {
    for fire in fired {
        match &fire.runs {
            Ok(runs) => {
                metrics.started("schedule", runs.len());
                info!(
                    automation = %fire.automation,
                    runs = runs.len(),
                    "schedule of {} fired: {} runs started",
                    fire.automation,
                    runs.len(),
                );
            }
            Err(why) => warn!(
                automation = %fire.automation,
                "schedule of {} fired, no run started: {why}",
                fire.automation
            ),
        }
    }
    if !fired.is_empty() {
        wake.notify_one();
    }
}

/// Logs each failed attempt and each run's end, counts them for
/// `/metrics`, and tells the API's waiters.
struct Log {
    ended: Arc<Ended>,
    metrics: Arc<Metrics>,
}

impl Observer for Log {
    fn attempt(&self, run: &Run, attempt: &Attempt) {
        self.metrics.attempt(run, attempt);
        if attempt.state == AttemptState::Failed {
            let error = attempt.error.as_deref().unwrap_or("");
            warn!(
                run = run.id,
                automation = %run.automation,
                step = %attempt.step_id,
                attempt = attempt.attempt,
                error,
                "run {} ({}) step {} attempt {} failed: {error}",
                run.id,
                run.automation,
                attempt.step_id,
                attempt.attempt,
            );
        }
    }

    fn woke(&self, run: &Run, late: Duration) {
        self.metrics.woke(run, late);
    }

    fn run_ended(&self, run: &Run) {
        info!(
            run = run.id,
            automation = %run.automation,
            state = %run.state,
            error = run.error.as_deref(),
            "run {} ({}) {}",
            run.id,
            run.automation,
            run.state
        );
        self.ended.ended(run.id);
    }
}
