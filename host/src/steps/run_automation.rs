//! `run_automation`: starts another automation (its trigger must be
//! `manual`) with `context` as its `ctx.trigger`. Fire-and-forget by default;
//! with `wait: true` the step ends when the child run ends, with its output.

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::error::Error;

pub struct RunAutomation;

impl Step for RunAutomation {
    fn spec(&self) -> &'static StepSpec {
        &spec::RUN_AUTOMATION
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let automation = target::text(input, "automation")?;
    // Without a context, the child is about the same subject.
    let context = match input.get("context") {
        Some(c @ Json::Object(_)) => c.clone(),
        Some(other) => {
            return Err(Error::fatal(format!(
                "`context` must be a mapping, got {other}"
            )));
        }
        None => match &cx.run.subject {
            Some(subject) => json!({ "user_id": subject }),
            None => json!({}),
        },
    };
    let run_id = cx.runs.start_child(automation, context)?;
    if input.get("wait").and_then(Json::as_bool).unwrap_or(false) {
        Ok(Outcome::AwaitRun { run_id })
    } else {
        Ok(Outcome::Done(
            json!({ "run_id": run_id, "automation": automation }),
        ))
    }
}
