//! `run_webhook`: a signed POST to a webhook configured by name; the answer
//! is the step's output.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError, target};

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

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let name = target::text(input, "webhook")?.to_string();
        let payload = input.get("payload").cloned().unwrap_or(json!({}));
        // One id for every attempt of this step, so receivers can drop repeats.
        let id = format!("keystep-{}-{}", cx.run.id, cx.step_id);
        if cx.dry_run {
            let hook = cx.notify.webhook(&name)?;
            return Ok(Outcome::Done(json!({
                "dry_run": "would POST this signed payload",
                "url": hook.url,
                "webhook_id": id,
                "payload": payload,
            })));
        }
        let delivery = crate::notify::block_on(cx.notify.deliver_webhook(&name, &payload, &id))?;
        Ok(Outcome::Done(delivery.body))
    }
}
