//! The outside world as steps reach it: mail, Slack, webhooks, functions
//! and connectors.
//!
//! A step's plan names an [`Effect`] as data; the engine hands it to an
//! [`Effects`] implementation with no transaction open, and the step's
//! settle phase gets what it answered ([`Performed`]). [`Live`] carries
//! effects out; [`Recorder`] (a dry run) sends nothing and records what
//! would have been sent, so a dry run takes the same path as a real one.

mod directory;
mod live;
mod recorder;

use serde_json::{Value as Json, json};

use crate::error::Error;
use crate::notify::{Email, SlackTarget};
use crate::plugins::Credential;

pub use directory::StoreReader;
pub use live::Live;
pub use recorder::{Functions, Recorder};

/// One outside effect of a step.
pub enum Effect {
    Email(Email),
    Slack {
        to: SlackTarget,
        text: String,
    },
    /// A signed POST to webhook `name`; `id` is the same on every attempt.
    Webhook {
        name: String,
        payload: Json,
        id: String,
    },
    /// A function component's call; its JSON result.
    Function {
        name: String,
        input: Json,
    },
    /// Grants and revokes carried out by connectors, each answered alone.
    Access(Vec<AccessCall>),
    /// A connector creates an account in `app`.
    CreateAccount {
        connector: String,
        app: String,
        fields: Json,
        credential: Credential,
    },
    /// A connector's custom action.
    Action {
        connector: String,
        action: String,
        args: Json,
    },
}

/// One grant or revoke for a connector.
#[derive(Debug, Clone)]
pub struct AccessCall {
    pub connector: String,
    pub grant: bool,
    /// The directory user, as JSON.
    pub user: Json,
    pub account_id: Option<String>,
    /// The entitlement's slug in the app.
    pub entitlement: String,
    /// One step may change several entitlements; each gets its own key.
    pub key: String,
}

/// What an effect answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Performed {
    /// It happened; what the outside world said. For [`Effect::Access`],
    /// one `{"ok": answer}` or `{"error": message}` per call.
    Done(Json),
    /// A dry run: nothing was sent; this says what would have been.
    Recorded(Json),
}

impl Performed {
    /// The answer, or the record of what would have happened.
    pub fn into_json(self) -> Json {
        match self {
            Performed::Done(v) | Performed::Recorded(v) => v,
        }
    }
}

/// Carries out effects. `key` is the attempt's idempotency key
/// (`run/step/attempt`): a replay after a crash passes the same one.
#[async_trait::async_trait]
pub trait Effects: Send + Sync {
    async fn perform(&self, effect: Effect, key: &str) -> Result<Performed, Error>;

    /// What plugins logged while performing the effect with `key`, taken
    /// (a second call answers none).
    fn take_logs(&self, _key: &str) -> Option<Json> {
        None
    }
}

impl Effect {
    /// What kind of effect it is, as automations' tests name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Email(_) => "email",
            Effect::Slack { .. } => "slack",
            Effect::Webhook { .. } => "webhook",
            Effect::Function { .. } => "function",
            Effect::Access(_) => "access",
            Effect::CreateAccount { .. } => "create_account",
            Effect::Action { .. } => "action",
        }
    }

    /// What a dry run reports for the effect instead of performing it.
    pub fn would(&self, webhook_url: Option<&str>) -> Json {
        match self {
            Effect::Email(email) => json!({
                "dry_run": "would send this email",
                "to": email.to,
                "title": email.from_name,
                "subject": email.subject,
                "message": email.text,
            }),
            Effect::Slack { to, text } => json!({
                "dry_run": "would post this Slack message",
                "to": match to {
                    SlackTarget::Channel(c) => json!({ "channel": c }),
                    SlackTarget::Users(users) => {
                        json!({ "users": users.iter().map(|(id, _)| id).collect::<Vec<_>>() })
                    }
                },
                "message": text,
            }),
            Effect::Webhook { payload, id, .. } => json!({
                "dry_run": "would POST this signed payload",
                "url": webhook_url,
                "webhook_id": id,
                "payload": payload,
            }),
            Effect::Function { name, input } => json!({
                "dry_run": format!("would call function `{name}`"),
                "input": input,
            }),
            Effect::Access(calls) => {
                Json::Array(calls.iter().map(|_| json!({"dry_run": true})).collect())
            }
            Effect::CreateAccount {
                connector,
                app,
                fields,
                ..
            } => json!({
                "dry_run": format!("would create a `{app}` account through `{connector}`"),
                "fields": fields,
            }),
            Effect::Action {
                connector,
                action,
                args,
            } => json!({
                "dry_run": format!("would run `{action}` on connector `{connector}`"),
                "args": args,
            }),
        }
    }
}
