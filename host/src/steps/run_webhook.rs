//! `run_webhook`: a signed POST to a webhook configured by name; the answer
//! is the step's output.

use serde_json::json;

use super::{Input, Phases, Plan, Planning, Step, target};
use crate::automation::spec::{self, StepSpec};
use crate::effects::Effect;
use crate::error::Error;

pub struct RunWebhook;

impl Step for RunWebhook {
    fn spec(&self) -> &'static StepSpec {
        &spec::RUN_WEBHOOK
    }

    fn phases(&self) -> Phases {
        Phases::Direct(plan)
    }
}

fn plan(input: &Input, step: &Planning<'_>) -> Result<Plan, Error> {
    let name = target::text(input, "webhook")?.to_string();
    let payload = input.get("payload").cloned().unwrap_or(json!({}));
    // One id for every attempt of this step, so receivers can drop repeats.
    let id = format!("keystep-{}-{}", step.run.id, step.def.id);
    Ok(Plan::output_of(Effect::Webhook { name, payload, id }))
}
