//! `keystep runs list|show|cancel|resume`.

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Value as Json, json};

use super::run::{Printer, interrupt_flag};
use super::{Env, Exit, render};
use crate::engine::{Clock, Idle};
use crate::store::Store;
use crate::store::runs::{self, Run, RunFilter};

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        #[arg(long)]
        automation: Option<String>,
        /// pending, running, waiting, succeeded, failed or cancelled.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(runs::STATES))]
        state: Option<String>,
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
}

fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{e}; expected e.g. 2026-12-01T09:00:00Z"))
}

pub fn runs(env: &Env, cmd: RunsCommand) -> anyhow::Result<Exit> {
    let store = env.open_store()?;
    match cmd {
        RunsCommand::List {
            automation,
            state,
            limit,
        } => {
            let list = runs::list(
                store.conn(),
                &RunFilter {
                    automation,
                    state,
                    limit,
                },
            )?;
            if env.json {
                render::json(&list.iter().map(summary).collect::<Vec<_>>());
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.automation.clone(),
                            r.state.clone(),
                            render::or_dash(r.subject_id.as_deref()),
                            r.cursor.to_string(),
                            r.created_at.clone(),
                            render::or_dash(
                                r.wake_at
                                    .map(crate::store::ts)
                                    .as_deref()
                                    .filter(|w| !w.starts_with("9999")),
                            ),
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
            let run = runs::load(store.conn(), id)?.with_context(|| format!("no run {id}"))?;
            let history = history(&store, &run)?;
            if env.json {
                render::json(&history);
            } else {
                show(&history);
            }
            Ok(Exit::Ok)
        }
        RunsCommand::Cancel { id, reason } => {
            let run = env.engine(&store).cancel(id, &reason)?;
            if env.json {
                render::json(&summary(&run));
            } else {
                println!("{}", render::run_line(&run));
            }
            Ok(Exit::Ok)
        }
        RunsCommand::Resume { id, now } => resume(env, &store, id, now),
    }
}

fn resume(
    env: &Env,
    store: &Store,
    id: Option<i64>,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Exit> {
    let mut engine = env.engine(store).with_interrupt(interrupt_flag());
    if let Some(now) = now {
        engine.clock = Clock::Fixed(now);
    }
    if let Some(id) = id {
        let run = runs::load(store.conn(), id)?.with_context(|| format!("no run {id}"))?;
        if run.state == "failed" {
            engine.reopen(id)?;
        }
    }
    let mut printer = Printer { json: env.json };
    let idle = engine.drive(&mut printer)?;
    let waiting: i64 = store.conn().query_row(
        "SELECT count(*) FROM runs WHERE state = 'waiting'",
        [],
        |r| r.get(0),
    )?;
    let focus = id
        .map(|id| runs::load(store.conn(), id))
        .transpose()?
        .flatten();
    if env.json {
        render::json(
            &json!({ "waiting": waiting, "next_wake": match &idle { Idle::Until(t) => t.map(crate::store::ts), Idle::Interrupted => None }, "run": focus.as_ref().map(summary) }),
        );
    } else if let Idle::Until(Some(next)) = idle {
        println!(
            "{waiting} run(s) waiting; the next is due at {}",
            crate::store::ts(next)
        );
    } else if idle == Idle::Interrupted {
        println!("interrupted; every run is saved");
    }
    Ok(match (idle, focus) {
        (Idle::Interrupted, _) => Exit::Interrupted,
        (_, Some(run)) if run.state == "failed" => Exit::RunFailed,
        _ => Exit::Ok,
    })
}

/// A run's row, for listings.
pub fn summary(run: &Run) -> Json {
    json!({
        "id": run.id,
        "automation": run.automation,
        "version": run.version,
        "state": run.state,
        "subject_id": run.subject_id,
        "steps_done": run.cursor,
        "parent_run": run.parent_run,
        "awaiting_run": run.awaiting_run,
        "error": run.error,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "wake_at": run.wake_at.map(crate::store::ts),
    })
}

/// A run with its trigger, outputs, step attempts and child runs.
pub fn history(store: &Store, run: &Run) -> anyhow::Result<Json> {
    let attempts = runs::attempts(store.conn(), run.id)?;
    let children: Vec<i64> = store
        .conn()
        .prepare("SELECT id FROM runs WHERE parent_run = ?1 ORDER BY id")?
        .query_map([run.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut run_json = summary(run);
    run_json["trigger"] = run.trigger.clone();
    run_json["outputs"] = Json::Object(run.outputs.clone());
    run_json["children"] = json!(children);
    let steps: Vec<Json> = attempts
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or(Json::Null);
            v["duration_ms"] = json!(a.duration_ms());
            v
        })
        .collect();
    Ok(json!({ "run": run_json, "steps": steps }))
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
    }
}
