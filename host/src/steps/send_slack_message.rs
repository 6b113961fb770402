//! `send_slack_message`: a message to a channel (by name or id), or direct
//! messages to directory users (found in Slack by their email).

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError, target};
use crate::automation::{Pos, StepDef};
use crate::notify::SlackTarget;

pub struct SendSlackMessage;

impl Step for SendSlackMessage {
    fn kind(&self) -> &'static str {
        "send_slack_message"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::optional("channel", FieldKind::Text),
            Field::optional("users", FieldKind::Users),
            Field::required("message", FieldKind::Text),
        ];
        FIELDS
    }

    fn check(&self, step: &StepDef) -> Vec<(Pos, String)> {
        let has = |name| step.fields.iter().any(|f| f.name == name);
        match (has("channel"), has("users")) {
            (true, false) | (false, true) => Vec::new(),
            _ => vec![(step.pos, "needs `channel` or `users` (one of them)".into())],
        }
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let text = target::text(input, "message")?.to_string();
        let to = match input.get("channel") {
            Some(_) => SlackTarget::Channel(target::text(input, "channel")?.to_string()),
            None => SlackTarget::Users(
                target::users(cx, input, "users")?
                    .into_iter()
                    .map(|u| match u.email {
                        Some(email) => Ok((u.id, email)),
                        None => Err(StepError::fatal(format!(
                            "`users`: user `{}` has no email address to find in Slack",
                            u.id
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        if cx.dry_run {
            let to = match &to {
                SlackTarget::Channel(c) => json!({ "channel": c }),
                SlackTarget::Users(users) => {
                    json!({ "users": users.iter().map(|(id, _)| id).collect::<Vec<_>>() })
                }
            };
            return Ok(Outcome::Done(json!({
                "dry_run": "would post this Slack message",
                "to": to,
                "message": text,
            })));
        }
        let (posted, via) =
            crate::notify::block_on(cx.notify.post_slack(&to, &text, &cx.idempotency_key()))?;
        Ok(Outcome::Done(match to {
            SlackTarget::Channel(_) => json!({
                "channel": posted[0].channel,
                "ts": posted[0].ts,
                "via": via,
            }),
            SlackTarget::Users(_) => json!({ "messages": posted, "via": via }),
        }))
    }
}
