//! Effects carried out: mail and Slack through the notifier, webhooks
//! signed and POSTed, plugin calls on the plugin host's bounded pool of
//! threads ([`Plugins::blocking`]: a plugin call is synchronous wasmtime
//! and must not hold one of the runtime's workers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use super::{AccessCall, Effect, Effects, Performed};
use crate::error::Error;
use crate::notify::{Notifier, SlackTarget};
use crate::plugins::{AccessChange, DirectoryAccess, Plugins};

/// The real outside world.
pub struct Live {
    pub notifier: Arc<Notifier>,
    pub plugins: Arc<Plugins>,
    /// What functions read through their `directory` import.
    pub directory: Arc<dyn DirectoryAccess>,
    /// Plugins' log lines by idempotency key, until the attempt takes them.
    pub logs: Arc<Mutex<HashMap<String, Vec<Json>>>>,
}

#[async_trait::async_trait]
impl Effects for Live {
    async fn perform(&self, effect: Effect, key: &str) -> Result<Performed, Error> {
        let answer = match effect {
            Effect::Email(email) => {
                let sent = self.notifier.send_email(&email, key).await?;
                json!(sent)
            }
            Effect::Slack { to, text } => {
                let (posted, via) = self.notifier.post_slack(&to, &text, key).await?;
                match to {
                    SlackTarget::Channel(_) => json!({
                        "channel": posted[0].channel,
                        "ts": posted[0].ts,
                        "via": via,
                    }),
                    SlackTarget::Users(_) => json!({ "messages": posted, "via": via }),
                }
            }
            Effect::Webhook { name, payload, id } => {
                self.notifier
                    .deliver_webhook(&name, &payload, &id)
                    .await?
                    .body
            }
            other => self.plugin(other, key).await?,
        };
        Ok(Performed::Done(answer))
    }

    fn take_logs(&self, key: &str) -> Option<Json> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.remove(key).map(Json::from)
    }
}

impl Live {
    /// A plugin effect, on a thread of the plugin host's bounded pool.
    async fn plugin(&self, effect: Effect, key: &str) -> Result<Json, Error> {
        let directory = self.directory.clone();
        let owned = key.to_string();
        let (caught, lines) = self
            .plugins
            .blocking(move |plugins| {
                crate::plugins::capturing_logs(|| {
                    crate::panics::catch(|| call(plugins, effect, &owned, directory))
                })
            })
            .await;
        if !lines.is_empty() {
            let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
            logs.entry(key.to_string()).or_default().extend(lines);
        }
        caught.unwrap_or_else(|panic| {
            Err(Error::fatal(format!(
                "keystep failed inside a plugin call (a bug): {panic}"
            )))
        })
    }
}

/// A plugin effect, on the calling thread.
fn call(
    plugins: &Plugins,
    effect: Effect,
    key: &str,
    directory: Arc<dyn DirectoryAccess>,
) -> Result<Json, Error> {
    match effect {
        Effect::Function { name, input } => plugins.call_function(&name, &input, Some(directory)),
        Effect::Access(calls) => Ok(Json::Array(
            calls.iter().map(|call| access(plugins, call)).collect(),
        )),
        Effect::CreateAccount {
            connector,
            fields,
            credential,
            ..
        } => plugins
            .create_account(&connector, &fields, credential, key)
            .map(|account| json!(account)),
        Effect::Action {
            connector,
            action,
            args,
        } => plugins.invoke_action(&connector, &action, &args, key),
        Effect::Email(_) | Effect::Slack { .. } | Effect::Webhook { .. } => {
            unreachable!("channels are not plugins")
        }
    }
}

/// One grant or revoke: `{"ok": answer}` or `{"error": message}`; a
/// failure leaves the task open for the app owner rather than failing the
/// step.
fn access(plugins: &Plugins, call: &AccessCall) -> Json {
    let change = AccessChange {
        user: &call.user,
        account_id: call.account_id.as_deref(),
        entitlement: &call.entitlement,
        idempotency_key: &call.key,
    };
    let answer = if call.grant {
        plugins.grant(&call.connector, &change)
    } else {
        plugins.revoke(&call.connector, &change)
    };
    match answer {
        Ok(answer) => json!({ "ok": answer }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}
