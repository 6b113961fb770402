//! The connector actions steps name, checked before anything runs: a
//! `perform_connector_action` whose connector and action are literals gets
//! the connector's `info` (asked once, then remembered) and is refused if
//! the connector has no such action, or if literal `args` do not fit the
//! action's schema. With `user:`, the step adds `account_id` at run time;
//! the check adds a stand-in for it.

use serde_json::{Value as Json, json};

use super::{Pos, StepDef};
use crate::plugins::Plugins;

/// Where and why `step`'s action cannot run, if it cannot.
pub fn problems(plugins: &Plugins, step: &StepDef) -> Vec<(Pos, String)> {
    let literal = |name: &str| {
        step.field(name)
            .and_then(|f| f.template.literal().map(|v| (v, f.pos)))
    };
    let (Some((Json::String(connector), _)), Some((Json::String(action), action_pos))) =
        (literal("connector"), literal("action"))
    else {
        return Vec::new();
    };
    // An `info` that fails fails the step that uses it, at run time, with
    // its reason; the name check says what is wrong with the name.
    let Ok(info) = plugins.connector_info(connector) else {
        return Vec::new();
    };
    let mut args = match (step.field("args"), literal("args")) {
        (None, _) => json!({}),
        (Some(_), Some((args, _))) => args.clone(),
        // Templated arguments are known only when the step runs: only the
        // action's name is checked.
        (Some(_), None) if info.action(action).is_some() => return Vec::new(),
        (Some(_), None) => json!({}),
    };
    if let (Some(_), Json::Object(map)) = (step.field("user"), &mut args) {
        map.insert("account_id".into(), json!("(the user's account)"));
    }
    match info.check_action(connector, action, &args) {
        Ok(()) => Vec::new(),
        Err(why) if info.action(action).is_none() => vec![(action_pos, why)],
        Err(why) => {
            let pos = step.field("args").map_or(step.pos, |f| f.pos);
            vec![(pos, why)]
        }
    }
}
