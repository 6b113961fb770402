//! `revoke_entitlements`: opens a revoke task for each grant the user holds
//! that the set picks (`all`, ids, selectors, an expression), less the
//! exclusions. Entitlements named but not held are reported, not errors.

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Plan, Step, StepCx, provisioning, target};
use crate::automation::spec::{self, StepSpec};
use crate::error::Error;

pub struct RevokeEntitlements;

impl Step for RevokeEntitlements {
    fn spec(&self) -> &'static StepSpec {
        &spec::REVOKE_ENTITLEMENTS
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let user = target::user(cx, input, "user")?;
    let held = cx.dir.grants_of(&user.id)?;
    let (chosen, not_held) = target::pick_held(cx, &held, &input["entitlements"], "entitlements")?;
    let (excluded, _) = target::pick_held(
        cx,
        &held,
        input.get("exclude").unwrap_or(&Json::Null),
        "exclude",
    )?;
    let revoked: Vec<String> = chosen
        .iter()
        .filter(|g| !excluded.contains(g))
        .map(|g| g.entitlement_id.clone())
        .collect();
    let excluded: Vec<String> = excluded.iter().map(|g| g.entitlement_id.clone()).collect();
    let requests = provisioning::plan(cx, "revoke", &user, &revoked)?;
    Ok(requests.into_plan(move |settled| {
        Outcome::Done(json!({
            "user_id": user.id,
            "tasks": settled.tasks,
            "connector": settled.connector,
            "revoked": revoked,
            "excluded": excluded,
            "not_held": not_held,
        }))
    }))
}
