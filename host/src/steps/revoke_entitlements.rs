//! `revoke_entitlements`: opens a revoke task for each grant the user holds
//! that the set picks (`all`, ids, selectors, an expression), less the
//! exclusions. Entitlements named but not held are reported, not errors.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError, provisioning, target};

pub struct RevokeEntitlements;

impl Step for RevokeEntitlements {
    fn kind(&self) -> &'static str {
        "revoke_entitlements"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("user", FieldKind::User),
            Field::required("entitlements", FieldKind::Entitlements),
            Field::optional("exclude", FieldKind::Entitlements),
        ];
        FIELDS
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let user = target::user(cx, input, "user")?;
        let held = cx.dir.grants_of(&user.id)?;
        let (chosen, not_held) =
            target::pick_held(cx, &held, &input["entitlements"], "entitlements")?;
        let (excluded, _) = target::pick_held(
            cx,
            &held,
            input.get("exclude").unwrap_or(&Json::Null),
            "exclude",
        )?;
        let mut tasks = Vec::new();
        let mut connector = Vec::new();
        let mut revoked = Vec::new();
        for grant in chosen.iter().filter(|g| !excluded.contains(g)) {
            let request = provisioning::request(cx, "revoke", &user.id, &grant.entitlement_id)?;
            tasks.push(request.task.id);
            connector.extend(request.fulfilment);
            revoked.push(grant.entitlement_id.clone());
        }
        Ok(Outcome::Done(json!({
            "user_id": user.id,
            "tasks": tasks,
            "connector": connector,
            "revoked": revoked,
            "excluded": excluded.iter().map(|g| &g.entitlement_id).collect::<Vec<_>>(),
            "not_held": not_held,
        })))
    }
}
