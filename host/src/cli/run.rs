//! `keystep run`: start a run and follow it, step by step.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use serde_json::{Value as Json, json};

use super::progress::{Printer, interrupt_flag};
use super::{Env, Exit, render};
use crate::automation::Automation;
use crate::directory::{Directory, DirectoryReads};
use crate::effects::Functions;
use crate::engine::{Engine, Idle};
use crate::history;
use crate::store::Store;
use crate::store::runs::{Run, RunState};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// An automation file, or the name of one in the automation folders.
    automation: String,
    /// The trigger data, a JSON object; `user_id` names the run's subject.
    /// `@FILE` reads it from a file, `-` from standard input.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Evaluate every expression and show what each step would do, changing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start the run and return at once; `keystep runs resume` moves it.
    #[arg(long)]
    detach: bool,
    /// Follow waits up to this long in the foreground; longer waits return
    /// and leave the run waiting in the store.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    follow: Duration,
}

pub fn run(env: &Env, args: RunArgs) -> anyhow::Result<Exit> {
    let input = super::input::read(&args.input)?;
    let automation = match env.app.catalog().find(&args.automation) {
        Ok(a) => a,
        Err(e) => anyhow::bail!("{e}"),
    };
    let store = env.app.open_store()?;
    check(env, &store, &automation)?;
    let interrupt = interrupt_flag();
    if args.dry_run {
        // The condition sees what the run would: the subject's directory record.
        let engine = env.app.engine(&store).build();
        let trigger = engine.trigger(input)?;
        if !condition_holds(env, &automation, &trigger, &engine)? {
            return Ok(Exit::Ok);
        }
        return dry_run(env, &store, automation, trigger);
    }
    let engine = env.app.engine(&store).interrupt(interrupt.clone()).build();
    let trigger = engine.trigger(input)?;
    if !condition_holds(env, &automation, &trigger, &engine)? {
        return Ok(Exit::Ok);
    }
    let name = automation.name.clone();
    let started = env
        .app
        .runtime()
        .block_on(engine.start(Arc::new(automation), trigger))?;
    let id = started.id;
    if args.detach {
        if env.json {
            render::json(&json!({ "run_id": id, "state": started.state() }));
        } else {
            println!("started run {id} ({name}); `keystep runs resume` moves it");
        }
        return Ok(Exit::Ok);
    }
    if !env.json {
        println!("▶ run {id} ({name})");
    }
    let printer = Arc::new(Printer { json: env.json });
    env.app
        .runtime()
        .block_on(follow(env, &engine, id, args.follow, &interrupt, printer))
}

/// Refuses an automation that does not validate against this directory and
/// these plugins.
fn check(env: &Env, store: &Store, automation: &Automation) -> anyhow::Result<()> {
    let reader = store.reader()?;
    let dir: &dyn DirectoryReads = &Directory::new(&reader, "validate".into());
    let directory_known = !dir.is_empty()?;
    let problems = crate::automation::check::check(
        automation,
        directory_known.then_some(dir),
        &env.app.catalog(),
        Some(&*env.app.plugins()).filter(|p| !p.is_empty()),
    );
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
        anyhow::bail!(
            "{} is not valid; nothing was started:\n{}",
            automation.name,
            lines.join("\n")
        );
    }
    Ok(())
}

/// Evaluates the trigger's `when` against `trigger`; says so when it is
/// false and nothing runs.
fn condition_holds(
    env: &Env,
    automation: &crate::automation::Automation,
    trigger: &Json,
    engine: &Engine,
) -> anyhow::Result<bool> {
    let holds = automation
        .trigger
        .holds(trigger, engine.directory())
        .map_err(|e| anyhow::anyhow!("trigger condition: {e}"))?;
    if !holds {
        if env.json {
            render::json(&json!({ "started": false, "reason": "trigger condition is false" }));
        } else {
            println!(
                "the trigger condition of {} is false for this input; nothing runs",
                automation.name
            );
        }
    }
    Ok(holds)
}

/// Drives runs until `id` ends, counting down waits no longer than
/// `follow`; returns the exit code for the run.
pub async fn follow(
    env: &Env,
    engine: &Engine,
    id: i64,
    follow: Duration,
    interrupt: &AtomicBool,
    printer: Arc<Printer>,
) -> anyhow::Result<Exit> {
    loop {
        let idle = engine.drive(printer.clone()).await?;
        let run = engine.load(id)?.context("run vanished")?;
        if run.is_terminal() {
            return finish(env, engine.store(), &run);
        }
        let next = match idle {
            Idle::Interrupted => return interrupted(env, &run),
            Idle::Until(next) => next,
        };
        let now = Utc::now();
        let until = match (run.state, run.wake_at) {
            (RunState::Paused, _) => return still_waiting(env, &run),
            (RunState::Waiting, Some(wake))
                if (wake - now).to_std().unwrap_or_default() > follow =>
            {
                return still_waiting(env, &run);
            }
            (RunState::Waiting, Some(wake)) => next.map_or(wake, |n| n.min(wake)),
            // Waiting until woken by a child that another process moves.
            (RunState::Waiting, None) if next.is_none() => return still_waiting(env, &run),
            // Held by another process, or just woken: look again shortly.
            _ => now + chrono::Duration::milliseconds(200),
        };
        if !countdown(&run, until, interrupt, env.json).await {
            return interrupted(env, &run);
        }
    }
}

/// Sleeps until `until`, showing the time left on a terminal. Returns
/// false if interrupted.
async fn countdown(
    run: &Run,
    until: chrono::DateTime<Utc>,
    interrupt: &AtomicBool,
    json: bool,
) -> bool {
    let tty = !json && std::io::stdout().is_terminal();
    let mut shown = false;
    loop {
        if interrupt.load(Ordering::Relaxed) {
            return false;
        }
        let left = (until - Utc::now()).num_milliseconds();
        if left <= 0 {
            if tty && shown {
                print!("\r\x1b[2K");
            }
            return true;
        }
        if tty && run.state == RunState::Waiting {
            print!(
                "\r\x1b[2K  ⏳ run {} waiting, {} left",
                run.id,
                render::duration(left)
            );
            let _ = std::io::stdout().flush();
            shown = true;
        }
        tokio::time::sleep(Duration::from_millis(left.clamp(1, 100) as u64)).await;
    }
}

fn finish(env: &Env, store: &Store, run: &Run) -> anyhow::Result<Exit> {
    if env.json {
        render::json(&history::of(store, run)?);
    }
    Ok(if run.state == RunState::Succeeded {
        Exit::Ok
    } else {
        Exit::RunFailed
    })
}

fn still_waiting(env: &Env, run: &Run) -> anyhow::Result<Exit> {
    let until = run.wake_at.map(crate::time::ts);
    if env.json {
        render::json(
            &json!({ "run_id": run.id, "state": run.state, "wake_at": until, "awaiting_run": run.awaiting_run }),
        );
    } else {
        match run.awaiting_run {
            _ if run.state == RunState::Paused => println!(
                "⏸ run {} is paused: {}'s circuit breaker (max_runs) is tripped; `keystep runs resume-paused {}` lets it start",
                run.id, run.automation, run.automation
            ),
            Some(child) if until.is_none() => println!(
                "⏳ run {} waits for run {child}; `keystep runs resume` continues both once due",
                run.id
            ),
            _ => println!(
                "⏳ run {} waits until {}; `keystep runs resume` continues it once due",
                run.id,
                until.unwrap_or_default()
            ),
        }
    }
    Ok(Exit::Ok)
}

fn interrupted(env: &Env, run: &Run) -> anyhow::Result<Exit> {
    if env.json {
        render::json(&json!({ "run_id": run.id, "state": run.state, "interrupted": true }));
    } else {
        println!(
            "\ninterrupted: run {} is saved ({}); `keystep runs resume` continues it",
            run.id, run.state
        );
    }
    Ok(Exit::Interrupted)
}

/// Runs the automation on a copy of the store, with effects recorded
/// rather than sent: every expression is evaluated and every step shows
/// what it would do; the store itself is not touched.
fn dry_run(env: &Env, store: &Store, automation: Automation, input: Json) -> anyhow::Result<Exit> {
    let copy = DryCopy::of(store)?;
    let planned = (|| -> anyhow::Result<Vec<Json>> {
        let dry = Store::open(&copy.0)?;
        let engine = env.app.engine(&dry).dry_run(Functions::Offline).build();
        let id = env.app.runtime().block_on(async {
            let id = engine.start(Arc::new(automation), input).await?.id;
            engine.drive(Arc::new(crate::engine::Quiet)).await?;
            anyhow::Ok(id)
        })?;
        let mut family = vec![id];
        let mut out = Vec::new();
        while let Some(id) = family.pop() {
            let run = engine.load(id)?.context("run vanished")?;
            family.extend(dry.read(|tx| tx.runs().children(id))?.into_iter().rev());
            out.push(history::of(&dry, &run)?);
        }
        Ok(out)
    })()?;
    let failed = planned.iter().any(|r| r["run"]["state"] == "failed");
    if env.json {
        render::json(&json!({ "dry_run": true, "runs": planned }));
    } else {
        for run in &planned {
            print_dry_run(run);
        }
    }
    Ok(if failed { Exit::RunFailed } else { Exit::Ok })
}

fn print_dry_run(run: &Json) {
    println!(
        "dry run of {} (nothing was changed):",
        render::escape(run["run"]["automation"].as_str().unwrap_or_default())
    );
    for step in run["steps"].as_array().into_iter().flatten() {
        let verb = match step["state"].as_str() {
            Some("skipped") => "would skip",
            Some("failed") => "would fail",
            _ => "would run",
        };
        println!(
            "  {verb} {} ({})",
            render::escape(step["step_id"].as_str().unwrap_or_default()),
            render::escape(step["kind"].as_str().unwrap_or_default())
        );
        for key in ["input", "output", "error"] {
            if !step[key].is_null() {
                println!("    {key}: {}", step[key]);
            }
        }
    }
}

/// A dry run's copy of the store beside it, removed when dropped.
struct DryCopy(std::path::PathBuf);

impl DryCopy {
    fn of(store: &Store) -> anyhow::Result<DryCopy> {
        let name = format!(".dry-run-{}-{:x}.db", std::process::id(), rand_suffix());
        let path = store.path().with_file_name(name);
        let copy = DryCopy(path);
        store.copy_to(&copy.0)?;
        Ok(copy)
    }
}

impl Drop for DryCopy {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
