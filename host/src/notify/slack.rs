//! Slack through the Web API (`chat.postMessage`), or into the outbox.
//!
//! A channel is given by name (resolved to its id with
//! `conversations.list`, and remembered) or by id; direct messages go to
//! users found by email (`users.lookupByEmail`, then `conversations.open`).
//! A 429 is waited out as its `Retry-After` says (three times at most).
//! Slack's `ok: false` errors become step errors that are retryable only
//! where waiting can help.

use std::time::Duration;

use serde_json::{Value as Json, json};

use super::{Notifier, Slack, outbox};
use crate::error::Error;

/// Where a message goes.
pub enum SlackTarget {
    /// `#name`, `name` or a channel id.
    Channel(String),
    /// Direct messages: (user id, email) of each directory user.
    Users(Vec<(String, String)>),
}

/// One posted message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    /// The directory user, for a direct message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// How many times a rate-limited call is tried.
const RATE_LIMIT_TRIES: u32 = 3;
/// The longest `Retry-After` honoured within one step.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Errors that waiting can help with.
const RETRYABLE: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl Notifier {
    /// Posts `text` to `target`; returns each message and whether it went to
    /// Slack (`slack`) or the outbox (`outbox`).
    pub async fn post_slack(
        &self,
        target: &SlackTarget,
        text: &str,
        key: &str,
    ) -> Result<(Vec<Posted>, &'static str), Error> {
        let Some(slack) = &self.settings.slack else {
            let (to, posted) = match target {
                SlackTarget::Channel(c) => (json!({"channel": c}), vec![outbox_post(c, None)]),
                SlackTarget::Users(users) => (
                    json!({"users": users.iter().map(|(id, _)| id).collect::<Vec<_>>()}),
                    users
                        .iter()
                        .map(|(id, _)| outbox_post(id, Some(id)))
                        .collect(),
                ),
            };
            let body = json!({"to": to, "text": text});
            outbox::write(
                &self.settings.outbox,
                "slack",
                key,
                "json",
                &serde_json::to_vec_pretty(&body).unwrap_or_default(),
            )?;
            return Ok((posted, "outbox"));
        };
        let api = Api {
            notifier: self,
            slack,
            token: slack
                .token
                .read()
                .map_err(|why| Error::fatal(format!("slack.token: {why}")))?,
        };
        let mut posted = Vec::new();
        match target {
            SlackTarget::Channel(channel) => {
                let id = self.channel_id(&api, channel).await?;
                posted.push(api.post(&id, text, None).await?);
            }
            SlackTarget::Users(users) => {
                for (user, email) in users {
                    let found = api
                        .call("users.lookupByEmail", json!({"email": email}))
                        .await?;
                    let slack_user = found["user"]["id"].as_str().unwrap_or_default().to_string();
                    let opened = api
                        .call("conversations.open", json!({"users": slack_user}))
                        .await?;
                    let channel = opened["channel"]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    posted.push(api.post(&channel, text, Some(user)).await?);
                }
            }
        }
        Ok((posted, "slack"))
    }

    /// A channel's id: given as one, remembered, or looked up by name.
    async fn channel_id(&self, api: &Api<'_>, channel: &str) -> Result<String, Error> {
        let name = channel.trim_start_matches('#');
        if looks_like_id(name) {
            return Ok(name.to_string());
        }
        if let Some(id) = self.channels.lock().unwrap().get(name) {
            return Ok(id.clone());
        }
        let mut cursor = String::new();
        loop {
            let page = api.call(
                "conversations.list",
                json!({"types": "public_channel,private_channel", "limit": 200, "cursor": cursor, "exclude_archived": true}),
            ).await?;
            let mut channels = self.channels.lock().unwrap();
            for c in page["channels"].as_array().into_iter().flatten() {
                if let (Some(n), Some(id)) = (c["name"].as_str(), c["id"].as_str()) {
                    channels.insert(n.to_string(), id.to_string());
                }
            }
            if let Some(id) = channels.get(name) {
                return Ok(id.clone());
            }
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if cursor.is_empty() {
                return Err(Error::fatal(format!(
                    "Slack conversations.list: channel_not_found{}: no channel named #{name}",
                    hint("channel_not_found")
                )));
            }
        }
    }
}

fn outbox_post(channel: &str, user: Option<&String>) -> Posted {
    Posted {
        channel: channel.to_string(),
        ts: "outbox".into(),
        user: user.cloned(),
    }
}

/// Slack ids: C…, G… or D… followed by upper-case letters and digits.
fn looks_like_id(name: &str) -> bool {
    name.len() >= 9
        && name.starts_with(['C', 'G', 'D'])
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// One Slack workspace, with its token read.
struct Api<'a> {
    notifier: &'a Notifier,
    slack: &'a Slack,
    token: String,
}

impl Api<'_> {
    async fn post(
        &self,
        channel: &str,
        text: &str,
        user: Option<&String>,
    ) -> Result<Posted, Error> {
        let answer = self
            .call(
                "chat.postMessage",
                json!({"channel": channel, "text": text}),
            )
            .await?;
        Ok(Posted {
            channel: answer["channel"].as_str().unwrap_or(channel).to_string(),
            ts: answer["ts"].as_str().unwrap_or_default().to_string(),
            user: user.cloned(),
        })
    }

    /// Calls a Web API method; waits out 429s; turns `ok: false` into an
    /// error.
    async fn call(&self, method: &str, body: Json) -> Result<Json, Error> {
        let url = format!("{}/{method}", self.slack.api_url);
        for attempt in 1..=RATE_LIMIT_TRIES {
            let response = self
                .notifier
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .form(&form(&body))
                .timeout(self.slack.timeout)
                .send()
                .await
                .map_err(|e| Error::transient(format!("Slack {method}: {}", without_url(&e))))?;
            let status = response.status();
            if status.as_u16() == 429 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs);
                if attempt == RATE_LIMIT_TRIES || wait > MAX_RETRY_AFTER {
                    return Err(Error::transient(format!(
                        "Slack {method}: rate limited (Retry-After {}s)",
                        wait.as_secs()
                    )));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                return Err(Error::transient(format!("Slack {method}: HTTP {status}")));
            }
            let answer: Json = response
                .text()
                .await
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or_else(|| {
                    Error::transient(format!("Slack {method}: an answer that is not JSON"))
                })?;
            if answer["ok"] == Json::Bool(true) {
                return Ok(answer);
            }
            let error = answer["error"].as_str().unwrap_or("unknown_error");
            let message = format!("Slack {method}: {error}{}", hint(error));
            return Err(if RETRYABLE.contains(&error) {
                Error::transient(message)
            } else {
                Error::fatal(message)
            });
        }
        unreachable!("the loop returns on its last try")
    }
}

/// A JSON object's fields as form fields: every Web API method takes them.
fn form(body: &Json) -> Vec<(String, String)> {
    body.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// What to do about Slack's common errors.
fn hint(error: &str) -> &'static str {
    match error {
        "channel_not_found" => " (no such channel, or the bot cannot see it)",
        "not_in_channel" => " (invite the bot to the channel)",
        "invalid_auth" | "not_authed" | "token_revoked" => " (check the bot token in slack.token)",
        "users_not_found" => " (no Slack user has that email)",
        "missing_scope" => " (the bot token lacks a scope this needs)",
        _ => "",
    }
}

/// A reqwest error without its URL (which names the workspace's API host).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        e.to_string()
    }
}
