//! Grant and revoke requests become tasks. When the entitlement's app has
//! a connector with the `provision` capability, the connector carries the
//! task out and the task is completed with its answer; a failure leaves
//! the task open for the app owner, with the error in its history. Without
//! a connector the task waits for the owner (`keystep tasks complete`).
//!
//! In phases: the plan finds each request's connector (reading the
//! committed directory), the engine performs the connector calls with no
//! transaction open, and the settle phase opens the tasks (or finds the
//! open ones) and records what each connector did, exactly once.

use serde_json::{Value as Json, json};

use super::{Outcome, Plan, StepCx};
use crate::effects::{AccessCall, Effect, Performed};
use crate::error::Error;

/// One request: a `kind` (grant or revoke) task for `user` × `entitlement`,
/// and the index of its connector call, if its app has a connector.
struct Request {
    entitlement: String,
    call: Option<usize>,
}

/// The requests of one step, planned.
pub struct Requests {
    kind: &'static str,
    user: String,
    requests: Vec<Request>,
    calls: Vec<AccessCall>,
}

/// What became of the requests: the task of each, and what the connectors
/// did.
pub struct Settled {
    pub tasks: Vec<i64>,
    pub connector: Vec<Json>,
}

/// Plans a `kind` request for each of `entitlements`.
pub fn plan(
    cx: &StepCx,
    kind: &'static str,
    user: &crate::directory::User,
    entitlements: &[String],
) -> Result<Requests, Error> {
    let mut planned = Requests {
        kind,
        user: user.id.clone(),
        requests: Vec::new(),
        calls: Vec::new(),
    };
    for entitlement in entitlements {
        let call = connector_call(cx, kind, user, entitlement)?;
        let index = call.map(|call| {
            planned.calls.push(call);
            planned.calls.len() - 1
        });
        planned.requests.push(Request {
            entitlement: entitlement.clone(),
            call: index,
        });
    }
    Ok(planned)
}

/// The connector call that carries out a request, if the entitlement's app
/// has a connector that provisions.
fn connector_call(
    cx: &StepCx,
    kind: &str,
    user: &crate::directory::User,
    entitlement: &str,
) -> Result<Option<AccessCall>, Error> {
    let ent = cx.dir.require_entitlement(entitlement)?;
    let Some(connector) = cx.dir.app(&ent.app_id)?.and_then(|a| a.connector) else {
        return Ok(None);
    };
    // A connector that cannot be loaded is reported at settle, per task.
    if !cx
        .plugins
        .connector_info(&connector)
        .map_or(true, |info| info.can("provision"))
    {
        return Ok(None);
    }
    Ok(Some(AccessCall {
        connector,
        grant: kind == "grant",
        user: json!(user),
        account_id: cx.dir.account_of(&user.id, &ent.app_id)?,
        entitlement: ent.slug,
        key: format!("{}/{}", cx.idempotency_key(), ent.id),
    }))
}

impl Requests {
    /// The step's plan: the connector calls, then the tasks settled with
    /// their answers; `finish` makes the step's outcome of what was settled.
    pub fn into_plan(self, finish: impl FnOnce(Settled) -> Outcome + Send + 'static) -> Plan {
        if self.calls.is_empty() {
            return Plan::Settle(Box::new(move |cx| Ok(finish(self.settle(cx, None)?))));
        }
        let effect = Effect::Access(self.calls.clone());
        Plan::perform(effect, move |cx, performed| {
            Ok(finish(self.settle(cx, Some(performed))?))
        })
    }

    /// Opens each request's task (unless one is open) and records what its
    /// connector answered.
    fn settle(self, cx: &StepCx, performed: Option<Performed>) -> Result<Settled, Error> {
        let (answers, dry) = match performed {
            Some(Performed::Done(Json::Array(a))) => (a, false),
            Some(Performed::Recorded(_)) => (Vec::new(), true),
            Some(Performed::Done(other)) => {
                return Err(Error::fatal(format!("connector answers: {other}")));
            }
            None => (Vec::new(), false),
        };
        let mut settled = Settled {
            tasks: Vec::new(),
            connector: Vec::new(),
        };
        for request in &self.requests {
            let task = match cx
                .dir
                .open_task_for(self.kind, &self.user, &request.entitlement)?
            {
                Some(open) => open,
                None => {
                    let owner = cx.dir.app_owner_of(&request.entitlement)?;
                    cx.dir.open_task(
                        self.kind,
                        &self.user,
                        &request.entitlement,
                        owner.as_deref(),
                        None,
                    )?
                }
            };
            settled.tasks.push(task.id);
            let Some(index) = request.call else { continue };
            let connector = &self.calls[index].connector;
            let report = |outcome: &str, extra: Json| {
                let mut r = json!({"task": task.id, "connector": connector, "outcome": outcome});
                if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
                    r.extend(extra.clone());
                }
                r
            };
            let answer = answers.get(index).cloned().unwrap_or(Json::Null);
            settled.connector.push(if dry {
                report("dry_run", json!({}))
            } else if let Some(result) = answer.get("ok") {
                cx.dir.note_task(
                    task.id,
                    "fulfilled",
                    json!({"connector": connector, "result": result}),
                )?;
                cx.dir.complete_task(task.id, None)?;
                report("fulfilled", json!({"result": result}))
            } else {
                let error = answer["error"].as_str().unwrap_or("no answer").to_string();
                cx.dir.note_task(
                    task.id,
                    "connector_failed",
                    json!({"connector": connector, "error": error}),
                )?;
                report("failed", json!({"error": error}))
            });
        }
        Ok(settled)
    }
}
