//! Webhooks configured by name, POSTed as JSON and signed per the Standard
//! Webhooks specification: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
//!
//! The id is the same on every attempt of a step, so a receiver can drop
//! repeats. 2xx succeeds (the answer, parsed, is returned); other 4xx fail
//! for good; 5xx, connection errors and timeouts may be retried.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use super::{Notifier, Webhook};
use crate::error::Error;

/// The largest answer read from a receiver.
const MAX_BODY: usize = 1 << 20;

/// A delivered webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: u16,
    /// The answer: its JSON, or `{"text": ...}` when it is not JSON.
    pub body: Json,
}

/// `v1,<signature>` for `body` sent as message `id` at `timestamp`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the secret is not base64 (`whsec_…`)".to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

impl Notifier {
    /// The webhook called `name`.
    pub fn webhook(&self, name: &str) -> Result<&Webhook, Error> {
        self.settings.webhooks.get(name).ok_or_else(|| {
            let known: Vec<&String> = self.settings.webhooks.keys().collect();
            Error::fatal(if known.is_empty() {
                format!("no webhook `{name}`: keystep.toml configures none ([webhooks.{name}])")
            } else {
                format!(
                    "no webhook `{name}` (configured: {})",
                    known
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
    }

    /// POSTs `payload` to webhook `name` as message `id`.
    pub async fn deliver_webhook(
        &self,
        name: &str,
        payload: &Json,
        id: &str,
    ) -> Result<Delivery, Error> {
        let hook = self.webhook(name)?;
        let secret = hook
            .secret
            .read()
            .map_err(|why| Error::fatal(format!("webhooks.{name}.secret: {why}")))?;
        let body = payload.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&secret, id, timestamp, &body)
            .map_err(|why| Error::fatal(format!("webhooks.{name}.secret: {why}")))?;
        let mut request = self
            .http
            .post(&hook.url)
            .timeout(hook.timeout)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        for (header, value) in &hook.headers {
            request = request.header(header, value);
        }
        let response = request.body(body).send().await.map_err(|e| {
            Error::transient(if e.is_timeout() {
                format!(
                    "webhook `{name}`: no answer within {} ms",
                    hook.timeout.as_millis()
                )
            } else {
                format!("webhook `{name}`: cannot deliver: {}", root_cause(&e))
            })
        })?;
        let status = response.status();
        let raw = read_capped(response).await.map_err(|e| match e {
            Capped::Larger => Error::fatal(format!(
                "webhook `{name}`: the answer is larger than {MAX_BODY} bytes"
            )),
            Capped::Read(e) => {
                Error::transient(format!("webhook `{name}`: reading the answer: {e}"))
            }
        })?;
        let text = String::from_utf8_lossy(&raw);
        if !status.is_success() {
            let shown: String = text.chars().take(200).collect();
            let message = format!("webhook `{name}` answered {status}: {shown}");
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                Error::transient(message)
            } else {
                Error::fatal(message)
            });
        }
        Ok(Delivery {
            status: status.as_u16(),
            body: serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text})),
        })
    }
}

/// Why an answer could not be read whole.
enum Capped {
    /// It is longer than [`MAX_BODY`].
    Larger,
    Read(reqwest::Error),
}

/// The answer's body, chunk by chunk, stopping as soon as it passes
/// [`MAX_BODY`]: no more than that (and one chunk) is ever held.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, Capped> {
    let mut raw = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Read)? {
        if raw.len() + chunk.len() > MAX_BODY {
            return Err(Capped::Larger);
        }
        raw.extend_from_slice(&chunk);
    }
    Ok(raw)
}

/// The innermost cause of a reqwest error, which says what went wrong.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
