//! `send_slack_message`: a message to a channel (by name or id), or direct
//! messages to directory users (found in Slack by their email).

use super::{Field, FieldKind, Input, Phases, Plan, Step, StepCx, target};
use crate::automation::{Pos, StepDef};
use crate::effects::Effect;
use crate::error::Error;
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

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

/// Where the message goes: a channel, or each user's address in Slack.
fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let text = target::text(input, "message")?.to_string();
    let to = match input.get("channel") {
        Some(_) => SlackTarget::Channel(target::text(input, "channel")?.to_string()),
        None => SlackTarget::Users(
            target::users(cx, input, "users")?
                .into_iter()
                .map(|u| match u.email {
                    Some(email) => Ok((u.id, email)),
                    None => Err(Error::fatal(format!(
                        "`users`: user `{}` has no email address to find in Slack",
                        u.id
                    ))),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Plan::output_of(Effect::Slack { to, text }))
}
