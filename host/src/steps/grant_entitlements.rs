//! `grant_entitlements`: opens a grant task for each named entitlement the
//! user does not already hold. Every entitlement must exist.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError, provisioning, target};

pub struct GrantEntitlements;

impl Step for GrantEntitlements {
    fn kind(&self) -> &'static str {
        "grant_entitlements"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("user", FieldKind::User),
            Field::required("entitlements", FieldKind::Entitlements),
        ];
        FIELDS
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let user = target::user(cx, input, "user")?;
        let wanted = target::entitlement_ids(cx, &input["entitlements"], "entitlements")?;
        let mut tasks = Vec::new();
        let mut connector = Vec::new();
        let mut requested = Vec::new();
        let mut already_held = Vec::new();
        for entitlement in wanted {
            if cx.dir.has_grant(&user.id, &entitlement)? {
                already_held.push(entitlement);
                continue;
            }
            let request = provisioning::request(cx, "grant", &user.id, &entitlement)?;
            tasks.push(request.task.id);
            connector.extend(request.fulfilment);
            requested.push(entitlement);
        }
        Ok(Outcome::Done(json!({
            "user_id": user.id,
            "tasks": tasks,
            "connector": connector,
            "requested": requested,
            "already_held": already_held,
        })))
    }
}
