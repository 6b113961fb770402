//! `keystep runs list|show|cancel|resume|resume-paused|cancel-paused`.

use clap::Subcommand;
use serde_json::{Value as Json, json};

use std::sync::Arc;

use super::progress::{Printer, interrupt_flag};
use super::{Env, Exit, render};
use crate::engine::{Clock, Idle, RunError};
use crate::history::{self, summary};
use crate::store::Store;
use crate::store::runs::{RunFilter, RunState};
use crate::time::ts;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        #[arg(long)]
        automation: Option<String>,
        /// pending, paused, running, waiting, succeeded, failed or cancelled.
        #[arg(long, value_parser = parse_state)]
        state: Option<RunState>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a run: each step's resolved input, output, attempts, timing and error.
    Show { id: i64 },
    /// Cancel a run that has not ended (and the child runs it waits on).
    Cancel {
        id: i64,
        #[arg(long, default_value = "by operator")]
        reason: String,
    },
    /// Move every due run forward; with an ID, a failed run retries its failed step.
    Resume {
        id: Option<i64>,
        /// Treat the clock as reading this RFC 3339 time (to run long waits early in tests).
        #[arg(long, value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Let the runs an automation's circuit breaker (`max_runs`) paused start.
    ResumePaused { automation: String },
    /// Cancel the runs an automation's circuit breaker (`max_runs`) paused.
    CancelPaused {
        automation: String,
        /// Why: recorded in the breakers' log and each run's error.
        #[arg(long)]
        reason: String,
    },
}

fn parse_state(s: &str) -> Result<RunState, String> {
    RunState::parse(s).ok_or_else(|| format!("one of {}", RunState::NAMES.join(", ")))
}

fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{e}; expected e.g. 2026-12-01T09:00:00Z"))
}

pub fn runs(env: &Env, cmd: RunsCommand) -> anyhow::Result<Exit> {
    let store = env.app.open_store()?;
    match cmd {
        RunsCommand::List {
            automation,
            state,
            limit,
        } => {
            let filter = RunFilter {
                automation,
                state,
                limit,
                ..RunFilter::default()
            };
            let list = store.read(|tx| tx.runs().list(&filter))?;
            if env.json {
                render::json(&list.iter().map(summary).collect::<Vec<_>>());
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.automation.clone(),
                            r.state.to_string(),
                            render::or_dash(r.subject_id.as_deref()),
                            r.cursor.to_string(),
                            r.created_at.clone(),
                            render::or_dash(r.wake_at.map(ts).as_deref()),
                        ]
                    })
                    .collect();
                render::table(
                    &[
                        "ID",
                        "AUTOMATION",
                        "STATE",
                        "SUBJECT",
                        "STEPS DONE",
                        "CREATED",
                        "WAKES",
                    ],
                    &rows,
                );
            }
            Ok(Exit::Ok)
        }
        RunsCommand::Show { id } => {
            let (_, history) = history::load(&store, id)?.ok_or(RunError::NoSuchRun(id))?;
            if env.json {
                render::json(&history);
            } else {
                show(&history);
            }
            Ok(Exit::Ok)
        }
        RunsCommand::Cancel { id, reason } => {
            let engine = env.app.engine(&store).build();
            let run = env.app.runtime().block_on(engine.cancel(id, &reason))?;
            if env.json {
                render::json(&summary(&run));
            } else {
                println!("{}", render::run_line(&run));
            }
            Ok(Exit::Ok)
        }
        RunsCommand::Resume { id, now } => resume(env, &store, id, now),
        RunsCommand::ResumePaused { automation } => {
            let engine = env.app.engine(&store).build();
            let ids = env
                .app
                .runtime()
                .block_on(engine.resume_paused(&automation, "cli"))?;
            released(env, &automation, &ids, "resumed");
            Ok(Exit::Ok)
        }
        RunsCommand::CancelPaused { automation, reason } => {
            let engine = env.app.engine(&store).build();
            let ids =
                env.app
                    .runtime()
                    .block_on(engine.cancel_paused(&automation, &reason, "cli"))?;
            released(env, &automation, &ids, "cancelled");
            Ok(Exit::Ok)
        }
    }
}

/// Says which paused runs of `automation` were resumed or cancelled.
fn released(env: &Env, automation: &str, ids: &[i64], verb: &str) {
    if env.json {
        render::json(&json!({ "automation": automation, "action": verb, "runs": ids }));
    } else if ids.is_empty() {
        println!("{automation} has no paused runs");
    } else {
        println!("{verb} {} paused run(s) of {automation}", ids.len());
    }
}

fn resume(
    env: &Env,
    store: &Store,
    id: Option<i64>,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Exit> {
    let mut engine = env.app.engine(store).interrupt(interrupt_flag());
    if let Some(now) = now {
        engine = engine.clock(Clock::Fixed(now));
    }
    let engine = engine.build();
    let printer = Arc::new(Printer { json: env.json });
    let idle = env.app.runtime().block_on(async {
        if let Some(id) = id {
            let run = engine.load(id)?.ok_or(RunError::NoSuchRun(id))?;
            if run.state == RunState::Failed {
                engine.reopen(id).await?;
            }
        }
        engine.drive(printer).await
    })?;
    let (waiting, focus) = store.read(|tx| {
        let runs = tx.runs();
        let focus = id.map(|id| runs.load(id)).transpose()?.flatten();
        anyhow::Ok((runs.count_waiting()?, focus))
    })?;
    if env.json {
        let next_wake = match &idle {
            Idle::Until(t) => t.map(ts),
            Idle::Interrupted => None,
        };
        render::json(
            &json!({ "waiting": waiting, "next_wake": next_wake, "run": focus.as_ref().map(summary) }),
        );
    } else if let Idle::Until(Some(next)) = idle {
        println!("{waiting} run(s) waiting; the next is due at {}", ts(next));
    } else if idle == Idle::Interrupted {
        println!("interrupted; every run is saved");
    }
    Ok(match (idle, focus) {
        (Idle::Interrupted, _) => Exit::Interrupted,
        (_, Some(run)) if run.state == RunState::Failed => Exit::RunFailed,
        _ => Exit::Ok,
    })
}

fn show(history: &Json) {
    let run = &history["run"];
    let text = |v: &Json| {
        v.as_str()
            .map(|s| render::escape(s).into_owned())
            .unwrap_or_else(|| {
                if v.is_null() {
                    "-".into()
                } else {
                    v.to_string()
                }
            })
    };
    println!(
        "run {}  {}  {}",
        run["id"],
        text(&run["automation"]),
        text(&run["state"])
    );
    for key in [
        "version",
        "subject_id",
        "parent_run",
        "awaiting_run",
        "created_at",
        "finished_at",
        "wake_at",
        "error",
    ] {
        if !run[key].is_null() {
            println!("  {key:<13} {}", text(&run[key]));
        }
    }
    println!("  {:<13} {}", "trigger", run["trigger"]);
    if run["children"].as_array().is_some_and(|c| !c.is_empty()) {
        println!("  {:<13} {}", "child runs", run["children"]);
    }
    for step in history["steps"].as_array().into_iter().flatten() {
        let ms = step["duration_ms"]
            .as_i64()
            .map(render::duration)
            .unwrap_or_default();
        println!(
            "\n{} {} ({}) attempt {}  {}  {ms}",
            render::mark(step["state"].as_str().unwrap_or_default()),
            text(&step["step_id"]),
            text(&step["kind"]),
            step["attempt"],
            text(&step["state"]),
        );
        println!("    started   {}", text(&step["started_at"]));
        for key in ["input", "output"] {
            if !step[key].is_null() {
                println!("    {key:<9} {}", step[key]);
            }
        }
        if !step["error"].is_null() {
            let retry = if step["retryable"] == json!(true) {
                " (retryable)"
            } else {
                ""
            };
            println!("    error     {}{retry}", text(&step["error"]));
        }
        for line in step["logs"].as_array().into_iter().flatten() {
            println!(
                "    log       [plugin {}] {}: {}",
                text(&line["plugin"]),
                text(&line["level"]),
                text(&line["message"])
            );
        }
    }
}
