//! `run_webhook`: a signed POST to a webhook configured by name; the answer
//! is the step's output.

use serde_json::json;

use super::{Field, FieldKind, Input, Phases, Plan, Step, StepCx, target};
use crate::effects::Effect;
use crate::error::Error;

pub struct RunWebhook;

impl Step for RunWebhook {
    fn kind(&self) -> &'static str {
        "run_webhook"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("webhook", FieldKind::Text),
            Field::optional("payload", FieldKind::Json),
        ];
        FIELDS
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let name = target::text(input, "webhook")?.to_string();
    let payload = input.get("payload").cloned().unwrap_or(json!({}));
    // One id for every attempt of this step, so receivers can drop repeats.
    let id = format!("keystep-{}-{}", cx.run.id, cx.def.id);
    Ok(Plan::output_of(Effect::Webhook { name, payload, id }))
}
