//! A run as the CLI and the HTTP API show it: its row for listings, and its whole history
//! (trigger, outputs, every attempt, child runs) for `runs show` and
//! `--json` output.

use serde_json::{Value as Json, json};

use crate::store::Store;
use crate::store::runs::Run;
use crate::time::ts;

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
        "wake_at": run.wake_at.map(ts),
    })
}

/// A run with its trigger, outputs, step attempts and child runs.
pub fn of(store: &Store, run: &Run) -> anyhow::Result<Json> {
    let (attempts, children) = store.read(|tx| {
        let runs = tx.runs();
        anyhow::Ok((runs.attempts(run.id)?, runs.children(run.id)?))
    })?;
    let mut run_json = summary(run);
    run_json["trigger"] = run.trigger.clone();
    run_json["outputs"] = Json::Object(run.outputs.clone());
    run_json["output"] = run.output.clone().unwrap_or(Json::Null);
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
