//! `send_slack_message`: a message to a channel (by name or id), or direct
//! messages to directory users (found in Slack by their email).

use super::{Input, Phases, Plan, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::effects::Effect;
use crate::error::Error;
use crate::notify::SlackTarget;

pub struct SendSlackMessage;

impl Step for SendSlackMessage {
    fn spec(&self) -> &'static StepSpec {
        &spec::SEND_SLACK_MESSAGE
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
