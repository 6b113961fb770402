//! `keystep run`: start a run and follow it, step by step.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use serde_json::{Value as Json, json};

use super::{Env, Exit, render};
use crate::engine::{Engine, Idle, Observer};
use crate::store::Store;
use crate::store::runs::{self, Attempt, Run};

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

/// Prints each step attempt and each run end as they happen.
pub struct Printer {
    pub json: bool,
}

impl Observer for Printer {
    fn attempt(&mut self, run: &Run, attempt: &Attempt) {
        if !self.json {
            println!(
                "{}",
                render::attempt_line(attempt).replacen("  ", &format!("  [{}] ", run.id), 1)
            );
        }
    }

    fn run_ended(&mut self, run: &Run) {
        if !self.json {
            println!("{}", render::run_line(run));
        }
    }
}

/// Sets a flag on Ctrl-C instead of dying, so a run stops between steps.
/// A second Ctrl-C exits at once (130), in the middle of a long step: the
/// run stays as its last committed transition left it, and the lease of a
/// process that is gone is taken over, so `keystep runs resume` continues it.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler = flag.clone();
    // Only one handler per process; a second call keeps the first.
    let _ = ctrlc::set_handler(move || {
        if handler.swap(true, Ordering::Relaxed) {
            eprintln!(
                "\ninterrupted again: stopping now; the run is saved as of its last finished step, `keystep runs resume` continues it"
            );
            std::process::exit(Exit::Interrupted as i32);
        }
        eprintln!("\nstopping after the current step (Ctrl-C again to stop now)");
    });
    flag
}

pub fn run(env: &Env, args: RunArgs) -> anyhow::Result<Exit> {
    let input = super::input::read(&args.input)?;
    let automation = match env.config.catalog().find(&args.automation) {
        Ok(a) => a,
        Err(e) => anyhow::bail!("{e}"),
    };
    let store = env.open_store()?;
    let dir = store.directory("validate");
    let directory_known = !dir.is_empty()?;
    let problems = crate::automation::check::check(
        &automation,
        directory_known.then_some(&dir),
        &env.config.catalog(),
        Some(&*env.plugins()).filter(|p| !p.is_empty()),
    );
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
        anyhow::bail!(
            "{} is not valid; nothing was started:\n{}",
            automation.name,
            lines.join("\n")
        );
    }
    let interrupt = interrupt_flag();
    let mut engine = env.engine(&store).with_interrupt(interrupt.clone());
    // The condition sees what the run would: the subject's directory record.
    let trigger = engine.trigger(input)?;
    if !condition_holds(env, &automation, &trigger)? {
        return Ok(Exit::Ok);
    }
    if args.dry_run {
        return dry_run(env, &store, &mut engine, automation, trigger);
    }
    let name = automation.name.clone();
    let id = engine.start(Arc::new(automation), trigger)?;
    if args.detach {
        if env.json {
            render::json(&json!({ "run_id": id, "state": "pending" }));
        } else {
            println!("started run {id} ({name}); `keystep runs resume` moves it");
        }
        return Ok(Exit::Ok);
    }
    if !env.json {
        println!("▶ run {id} ({name})");
    }
    let mut printer = Printer { json: env.json };
    follow(env, &engine, id, args.follow, &interrupt, &mut printer)
}

/// Evaluates the trigger's `when` against `trigger`; says so when it is
/// false and nothing runs.
fn condition_holds(
    env: &Env,
    automation: &crate::automation::Automation,
    trigger: &Json,
) -> anyhow::Result<bool> {
    let Some(when) = &automation.trigger.when else {
        return Ok(true);
    };
    let scope = crate::expr::Scope::new(&json!({ "trigger": trigger }));
    let holds = when
        .eval_bool(&scope)
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
pub fn follow(
    env: &Env,
    engine: &Engine,
    id: i64,
    follow: Duration,
    interrupt: &AtomicBool,
    printer: &mut Printer,
) -> anyhow::Result<Exit> {
    let conn = engine.store().conn();
    loop {
        let idle = engine.drive(printer)?;
        let run = runs::load(conn, id)?.context("run vanished")?;
        if run.is_terminal() {
            return finish(env, engine.store(), &run);
        }
        let next = match idle {
            Idle::Interrupted => return interrupted(env, &run),
            Idle::Until(next) => next,
        };
        let now = Utc::now();
        let until = match (run.state.as_str(), run.wake_at) {
            ("waiting", Some(wake)) if (wake - now).to_std().unwrap_or_default() > follow => {
                return still_waiting(env, &run);
            }
            ("waiting", Some(wake)) => next.map_or(wake, |n| n.min(wake)),
            // Held by another process, or just woken: look again shortly.
            _ => now + chrono::Duration::milliseconds(200),
        };
        if !countdown(&run, until, interrupt, env.json) {
            return interrupted(env, &run);
        }
    }
}

/// Sleeps until `until`, showing the time left on a terminal. Returns
/// false if interrupted.
fn countdown(run: &Run, until: chrono::DateTime<Utc>, interrupt: &AtomicBool, json: bool) -> bool {
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
        if tty && run.state == "waiting" {
            print!(
                "\r\x1b[2K  ⏳ run {} waiting, {} left",
                run.id,
                render::duration(left)
            );
            let _ = std::io::stdout().flush();
            shown = true;
        }
        std::thread::sleep(Duration::from_millis(left.clamp(1, 100) as u64));
    }
}

fn finish(env: &Env, store: &Store, run: &Run) -> anyhow::Result<Exit> {
    if env.json {
        render::json(&super::runs::history(store, run)?);
    }
    Ok(if run.state == "succeeded" {
        Exit::Ok
    } else {
        Exit::RunFailed
    })
}

fn still_waiting(env: &Env, run: &Run) -> anyhow::Result<Exit> {
    let until = run.wake_at.map(crate::store::ts);
    if env.json {
        render::json(
            &json!({ "run_id": run.id, "state": run.state, "wake_at": until, "awaiting_run": run.awaiting_run }),
        );
    } else {
        match run.awaiting_run {
            Some(child) if until.as_deref().is_some_and(|u| u.starts_with("9999")) => println!(
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

/// Runs the automation inside a transaction that is rolled back: every
/// expression is evaluated and every step shows what it would do.
fn dry_run(
    env: &Env,
    store: &Store,
    engine: &mut Engine,
    automation: crate::automation::Automation,
    input: Json,
) -> anyhow::Result<Exit> {
    engine.dry_run = true;
    store.begin_dry_run()?;
    let planned = (|| -> anyhow::Result<Vec<Json>> {
        let id = engine.start(Arc::new(automation), input)?;
        engine.drive(&mut crate::engine::Quiet)?;
        let mut family = vec![id];
        let mut out = Vec::new();
        while let Some(id) = family.pop() {
            let run = runs::load(store.conn(), id)?.context("run vanished")?;
            family.extend(
                store
                    .conn()
                    .prepare("SELECT id FROM runs WHERE parent_run = ?1 ORDER BY id DESC")?
                    .query_map([id], |r| r.get::<_, i64>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            );
            out.push(super::runs::history(store, &run)?);
        }
        Ok(out)
    })();
    store.end_dry_run()?;
    let planned = planned?;
    let failed = planned.iter().any(|r| r["run"]["state"] == "failed");
    if env.json {
        render::json(&json!({ "dry_run": true, "runs": planned }));
    } else {
        for run in &planned {
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
    }
    Ok(if failed { Exit::RunFailed } else { Exit::Ok })
}
