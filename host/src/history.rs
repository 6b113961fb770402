//! A run as the CLI and the HTTP API show it: its row for listings, and its whole history
//! (trigger, outputs, every attempt, child runs) for `runs show` and
//! `--json` output.

use serde_json::{Value as Json, json};

use crate::store::Store;
use crate::store::runs::{Attempt, Run};
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
    Ok(shape(run, &attempts, &children))
}

/// Run `id` and its history, read together (none: no such run).
pub fn load(store: &Store, id: i64) -> anyhow::Result<Option<(Run, Json)>> {
    store.read(|tx| {
        let runs = tx.runs();
        let Some(run) = runs.load(id)? else {
            return Ok(None);
        };
        let history = shape(&run, &runs.attempts(id)?, &runs.children(id)?);
        Ok(Some((run, history)))
    })
}

fn shape(run: &Run, attempts: &[Attempt], children: &[i64]) -> Json {
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
    json!({ "run": run_json, "steps": steps })
}
