//! `perform_task_action`: reassigns, completes or cancels the open tasks a
//! user is the assignee or the subject of, by task type.

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Step, StepCx, target};
use crate::automation::spec::{self, ACTION_SHAPE, StepSpec};
use crate::directory::TaskFilter;
use crate::error::Error;

pub struct PerformTaskAction;

impl Step for PerformTaskAction {
    fn spec(&self) -> &'static StepSpec {
        &spec::PERFORM_TASK_ACTION
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let user = target::user(cx, input, "user")?;
    let relation = input
        .get("relation")
        .and_then(Json::as_str)
        .unwrap_or("assignee");
    let mut filter = TaskFilter {
        kinds: target::words(input.get("task_types")),
        states: vec!["open".into()],
        ..TaskFilter::default()
    };
    match relation {
        "assignee" => filter.assignee = Some(user.id.clone()),
        "subject" => filter.subject = Some(user.id.clone()),
        other => {
            return Err(Error::fatal(format!(
                "`relation` must be assignee or subject, got `{other}`"
            )));
        }
    }
    let action = &input["action"];
    let reassign_to = match action {
        Json::String(s) if s == "complete" || s == "cancel" => None,
        Json::Object(m) => match m.get("reassign") {
            Some(to) => Some(target::user_ref(cx, to, "action.reassign", None)?),
            None => return Err(Error::fatal(ACTION_SHAPE)),
        },
        _ => return Err(Error::fatal(ACTION_SHAPE)),
    };
    let tasks = cx.dir.tasks(&filter)?;
    for task in &tasks {
        match (&reassign_to, action.as_str()) {
            (Some(to), _) => cx.dir.reassign_task(task.id, &to.id)?,
            (None, Some("complete")) => drop(cx.dir.complete_task(task.id, None)?),
            _ => drop(cx.dir.cancel_task(task.id)?),
        }
    }
    Ok(Outcome::Done(json!({
        "user_id": user.id,
        "action": reassign_to.map_or_else(|| action.clone(), |to| json!({"reassign": to.id})),
        "tasks": tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
    })))
}
