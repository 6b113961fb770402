//! `perform_connector_action`: runs a custom action a connector declares,
//! after checking the arguments against the action's schema.

use serde_json::json;

use super::{Input, Outcome, Phases, Plan, Step, StepCx};
use crate::automation::spec::{self, StepSpec};
use crate::automation::suggest;
use crate::effects::{Effect, Performed};
use crate::error::Error;
use crate::plugins::schema;

pub struct PerformConnectorAction;

impl Step for PerformConnectorAction {
    fn spec(&self) -> &'static StepSpec {
        &spec::PERFORM_CONNECTOR_ACTION
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

/// The action, checked against what the connector declares.
fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let connector = input["connector"].as_str().unwrap_or_default();
    let action = input["action"].as_str().unwrap_or_default();
    let args = input.get("args").cloned().unwrap_or(json!({}));
    let info = cx.plugins.connector_info(connector)?;
    if !info.can("actions") {
        return Err(Error::fatal(format!(
            "connector `{connector}` offers no actions"
        )));
    }
    let Some(declared) = info.action(action) else {
        let names: Vec<&str> = info.actions.iter().map(|a| a.name.as_str()).collect();
        return Err(Error::fatal(format!(
            "connector `{connector}` has no action `{action}`{} (it has: {})",
            suggest(action, names.iter().copied()),
            names.join(", ")
        )));
    };
    let wrong = schema::violations(&declared.arguments, &args);
    if !wrong.is_empty() {
        return Err(Error::fatal(format!(
            "arguments of `{connector}` action `{action}` do not fit its schema: {}",
            wrong.join("; ")
        )));
    }
    let (connector, action) = (connector.to_string(), action.to_string());
    let effect = Effect::Action {
        connector: connector.clone(),
        action: action.clone(),
        args,
    };
    Ok(Plan::perform(effect, move |_, performed| match performed {
        Performed::Recorded(would) => Ok(Outcome::Done(would)),
        Performed::Done(result) => Ok(Outcome::Done(json!({
            "connector": connector,
            "action": action,
            "result": result,
        }))),
    }))
}
