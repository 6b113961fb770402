//! Reaching people and outside systems: email over SMTP, Slack messages,
//! signed webhooks. Each channel is one file; this module holds their
//! settings and the file outbox used when a channel is not configured.
//!
//! Nothing here knows of automations: a step hands over what to send and
//! gets back what was sent, or an error that says whether trying again may
//! help. Secrets (the SMTP password, the Slack token, webhook secrets) are
//! read from their source when needed (the SMTP password once, when the
//! SMTP client is built) and never appear in an error.
//!
//! The sending methods are async and hold no thread while they wait; the
//! outbox's small file writes stay synchronous.

mod email;
mod outbox;
mod slack;
mod webhook;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::Error;
use crate::secret::SecretSource;

pub use email::{Email, SentEmail, valid_address};
pub use slack::{Posted, SlackTarget};
pub use webhook::{Delivery, sign};

/// `[smtp]`, `[slack]`, `[webhooks.NAME]` and the outbox, as read from
/// `keystep.toml`.
#[derive(Debug, Default)]
pub struct Sections {
    pub smtp: Option<SmtpSection>,
    pub slack: Option<SlackSection>,
    pub webhooks: BTreeMap<String, WebhookSection>,
    /// Where mail and Slack messages go when those are not configured.
    pub outbox: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    pub port: Option<u16>,
    /// `starttls` (the default), `tls` (implicit, port 465) or `none`.
    pub tls: Option<String>,
    /// A CA certificate (PEM) to trust, for servers with their own CA.
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    /// `env:VAR` or `file:PATH`.
    pub password: Option<String>,
    /// The sender address; `title` on a step sets the display name.
    pub from: String,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    /// The Web API's base URL (default `https://slack.com/api`).
    pub api_url: Option<String>,
    /// The bot token: `env:VAR` or `file:PATH`.
    pub token: String,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub url: String,
    /// The signing secret (`whsec_…` base64): `env:VAR` or `file:PATH`.
    pub secret: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub timeout_ms: Option<u64>,
}

/// How SMTP is secured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tls {
    StartTls,
    Implicit,
    None,
}

/// SMTP settings, resolved.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<SecretSource>,
    pub from: String,
    pub timeout: Duration,
}

/// Slack settings, resolved.
#[derive(Debug, Clone)]
pub struct Slack {
    pub api_url: String,
    pub token: SecretSource,
    pub timeout: Duration,
}

/// One configured webhook, resolved.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: SecretSource,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// Every channel's settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub smtp: Option<Smtp>,
    pub slack: Option<Slack>,
    pub webhooks: BTreeMap<String, Webhook>,
    pub outbox: PathBuf,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn timeout(ms: Option<u64>) -> Duration {
    ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

impl Sections {
    /// Checks and resolves the sections; paths are relative to `base`.
    pub fn resolve(self, base: &Path) -> Result<Settings, String> {
        let at = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let smtp = match self.smtp {
            None => None,
            Some(s) => {
                let tls = match s.tls.as_deref().unwrap_or("starttls") {
                    "starttls" => Tls::StartTls,
                    "tls" => Tls::Implicit,
                    "none" => Tls::None,
                    other => {
                        return Err(format!(
                            "smtp.tls is `starttls`, `tls` or `none`, not `{other}`"
                        ));
                    }
                };
                let port = s.port.unwrap_or(match tls {
                    Tls::Implicit => 465,
                    Tls::StartTls => 587,
                    Tls::None => 25,
                });
                let password = s
                    .password
                    .map(|p| SecretSource::parse(&p, base, "smtp.password"))
                    .transpose()?;
                Some(Smtp {
                    host: s.host,
                    port,
                    tls,
                    ca_file: s.ca_file.map(at),
                    user: s.user,
                    password,
                    from: s.from,
                    timeout: timeout(s.timeout_ms),
                })
            }
        };
        let slack = match self.slack {
            None => None,
            Some(s) => Some(Slack {
                api_url: s
                    .api_url
                    .unwrap_or_else(|| "https://slack.com/api".into())
                    .trim_end_matches('/')
                    .to_string(),
                token: SecretSource::parse(&s.token, base, "slack.token")?,
                timeout: timeout(s.timeout_ms),
            }),
        };
        let webhooks = self
            .webhooks
            .into_iter()
            .map(|(name, w)| {
                let what = format!("webhooks.{name}.secret");
                Ok((
                    name,
                    Webhook {
                        url: w.url,
                        secret: SecretSource::parse(&w.secret, base, &what)?,
                        headers: w.headers,
                        timeout: timeout(w.timeout_ms),
                    },
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Settings {
            smtp,
            slack,
            webhooks,
            outbox: at(self.outbox.unwrap_or_else(|| ".keystep/outbox".into())),
        })
    }
}

/// The sending side: settings, one HTTP client with its connection pool, the
/// SMTP transport (built on first use, then shared by every message) and the
/// Slack channel ids resolved so far.
pub struct Notifier {
    pub settings: Settings,
    http: reqwest::Client,
    smtp: OnceLock<Result<email::Transport, Error>>,
    channels: Mutex<BTreeMap<String, String>>,
}

// The engine shares one notifier between its tasks, and sends from any of
// them: the notifier and what its sending methods return must cross threads.
const _: fn(&Notifier, &Email, &SlackTarget, &Json) = |n, email, target, payload| {
    fn send<T: Send + Sync>(_: &T) {}
    send(n);
    fn future<F: std::future::Future + Send>(_: F) {}
    future(n.send_email(email, ""));
    future(n.post_slack(target, "", ""));
    future(n.deliver_webhook("", payload, ""));
};

impl Notifier {
    pub fn new(settings: Settings) -> Notifier {
        Notifier {
            settings,
            http: reqwest::Client::builder()
                .user_agent(concat!("keystep/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client with default settings builds"),
            smtp: OnceLock::new(),
            channels: Mutex::default(),
        }
    }

    /// Nothing configured: mail and Slack go to the outbox under `outbox`.
    pub fn outbox_only(outbox: PathBuf) -> Notifier {
        Notifier::new(Settings {
            outbox,
            ..Settings::default()
        })
    }
}

/// A runtime for the channels' tests.
#[cfg(test)]
fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
