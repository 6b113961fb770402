//! `perform_connector_action`: runs a custom action a connector declares,
//! after checking the arguments against the action's schema.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError};
use crate::automation::suggest;
use crate::plugins::schema;

pub struct PerformConnectorAction;

impl Step for PerformConnectorAction {
    fn kind(&self) -> &'static str {
        "perform_connector_action"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("connector", FieldKind::Connector),
            Field::required("action", FieldKind::Text),
            Field::optional("args", FieldKind::Json),
        ];
        FIELDS
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let connector = input["connector"].as_str().unwrap_or_default();
        let action = input["action"].as_str().unwrap_or_default();
        let args = input.get("args").cloned().unwrap_or(json!({}));
        let info = cx.plugins.host.connector_info(connector)?;
        if !info.can("actions") {
            return Err(StepError::fatal(format!(
                "connector `{connector}` offers no actions"
            )));
        }
        let Some(declared) = info.action(action) else {
            let names: Vec<&str> = info.actions.iter().map(|a| a.name.as_str()).collect();
            return Err(StepError::fatal(format!(
                "connector `{connector}` has no action `{action}`{} (it has: {})",
                suggest(action, names.iter().copied()),
                names.join(", ")
            )));
        };
        let wrong = schema::violations(&declared.arguments, &args);
        if !wrong.is_empty() {
            return Err(StepError::fatal(format!(
                "arguments of `{connector}` action `{action}` do not fit its schema: {}",
                wrong.join("; ")
            )));
        }
        if cx.dry_run {
            return Ok(Outcome::Done(json!({
                "dry_run": format!("would run `{action}` on connector `{connector}`"),
                "args": args,
            })));
        }
        let result =
            cx.plugins
                .host
                .invoke_action(connector, action, &args, &cx.idempotency_key())?;
        Ok(Outcome::Done(json!({
            "connector": connector,
            "action": action,
            "result": result,
        })))
    }
}
