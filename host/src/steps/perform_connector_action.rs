//! `perform_connector_action`: runs a custom action a connector declares,
//! after checking the arguments against the action's schema. With `user`,
//! the arguments get `account_id`: the user's account in the connector's
//! app, as the directory knows it (from `create_account` or a sync).

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Plan, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::effects::{Effect, Performed};
use crate::error::Error;

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
    let mut args = input.get("args").cloned().unwrap_or(json!({}));
    if input.get("user").is_some() {
        let account = account_of(cx, input, connector)?;
        match &mut args {
            Json::Object(args) => args.insert("account_id".into(), json!(account)),
            _ => return Err(Error::fatal("`args` with `user` must be a map")),
        };
    }
    let info = cx.plugins.connector_info(connector)?;
    info.check_action(connector, action, &args)
        .map_err(Error::fatal)?;
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

/// The `user`'s account in the app `connector` serves.
fn account_of(cx: &StepCx<'_>, input: &Input, connector: &str) -> Result<String, Error> {
    let user = target::user(cx, input, "user")?;
    let app = cx.dir.app_with_connector(connector)?.ok_or_else(|| {
        Error::fatal(format!(
            "no app in the directory uses connector `{connector}`"
        ))
    })?;
    cx.dir.account_of(&user.id, &app.id)?.ok_or_else(|| {
        Error::fatal(format!(
            "user `{}` has no account in app `{}` (create one, or run `keystep sync {connector}`)",
            user.id, app.id
        ))
    })
}
