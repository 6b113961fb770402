//! `grant_entitlements`: opens a grant task for each named entitlement the
//! user does not already hold. Every entitlement must exist.

use serde_json::json;

use super::{Input, Outcome, Phases, Plan, Step, StepCx, provisioning, target};
use crate::automation::spec::{self, StepSpec};
use crate::error::Error;

pub struct GrantEntitlements;

impl Step for GrantEntitlements {
    fn spec(&self) -> &'static StepSpec {
        &spec::GRANT_ENTITLEMENTS
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let user = target::user(cx, input, "user")?;
    let wanted = target::entitlement_ids(cx, &input["entitlements"], "entitlements")?;
    let mut requested = Vec::new();
    let mut already_held = Vec::new();
    for entitlement in wanted {
        if cx.dir.has_grant(&user.id, &entitlement)? {
            already_held.push(entitlement);
        } else {
            requested.push(entitlement);
        }
    }
    let requests = provisioning::plan(cx, "grant", &user, &requested)?;
    Ok(requests.into_plan(move |settled| {
        Outcome::Done(json!({
            "user_id": user.id,
            "tasks": settled.tasks,
            "connector": settled.connector,
            "requested": requested,
            "already_held": already_held,
        }))
    }))
}
