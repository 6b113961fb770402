//! Grant and revoke requests become tasks. When the entitlement's app has
//! a connector with the `provision` capability, the connector carries the
//! task out at once and the task is completed with its answer; a failure
//! leaves the task open for the app owner, with the error in its history.
//! Without a connector the task waits for the owner (`keystep tasks
//! complete`).

use serde_json::{Value as Json, json};

use super::{StepCx, StepError};
use crate::directory::Task;
use crate::plugins::AccessChange;

/// What became of a request.
pub struct Requested {
    pub task: Task,
    /// What the app's connector did, if the app has one.
    pub fulfilment: Option<Json>,
}

/// Opens a `kind` (grant or revoke) task for `user` × `entitlement`, assigned
/// to the app's owner, unless an open one exists; then lets the app's
/// connector fulfil it.
pub fn request(
    cx: &StepCx,
    kind: &str,
    user: &str,
    entitlement: &str,
) -> Result<Requested, StepError> {
    let task = match cx.dir.open_task_for(kind, user, entitlement)? {
        Some(open) => open,
        None => {
            let owner = cx.dir.app_owner_of(entitlement)?;
            cx.dir
                .open_task(kind, user, entitlement, owner.as_deref(), None)?
        }
    };
    let fulfilment = fulfil(cx, &task)?;
    Ok(Requested { task, fulfilment })
}

/// Carries `task` out through its app's connector, if it has one.
fn fulfil(cx: &StepCx, task: &Task) -> Result<Option<Json>, StepError> {
    let ent = cx.dir.require_entitlement(&task.entitlement_id)?;
    let Some(connector) = cx.dir.app(&ent.app_id)?.and_then(|a| a.connector) else {
        return Ok(None);
    };
    let report = |outcome: &str, extra: Json| {
        let mut r = json!({"task": task.id, "connector": connector, "outcome": outcome});
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        r
    };
    if cx.dry_run {
        return Ok(Some(report("dry_run", json!({}))));
    }
    let user = json!(cx.dir.require_user(&task.subject_id)?);
    let account = cx.dir.account_of(&task.subject_id, &ent.app_id)?;
    // One step may change several entitlements; each change gets its own key.
    let key = format!("{}/{}", cx.idempotency_key(), ent.id);
    let change = AccessChange {
        user: &user,
        account_id: account.as_deref(),
        entitlement: &ent.slug,
        idempotency_key: &key,
    };
    let host = &cx.plugins.host;
    let result = host.connector_info(&connector).and_then(|info| {
        if !info.can("provision") {
            Ok(None)
        } else if task.kind == "grant" {
            host.grant(&connector, &change).map(Some)
        } else {
            host.revoke(&connector, &change).map(Some)
        }
    });
    match result {
        Ok(None) => Ok(None),
        Ok(Some(answer)) => {
            cx.dir.note_task(
                task.id,
                "fulfilled",
                json!({"connector": connector, "result": answer}),
            )?;
            cx.dir.complete_task(task.id, None)?;
            Ok(Some(report("fulfilled", json!({"result": answer}))))
        }
        Err(e) => {
            let error = e.to_string();
            cx.dir.note_task(
                task.id,
                "connector_failed",
                json!({"connector": connector, "error": error}),
            )?;
            Ok(Some(report("failed", json!({"error": error}))))
        }
    }
}
