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
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use super::*;
    use crate::notify::{Settings, test_runtime};
    use crate::secret::SecretSource;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// A receiver on 127.0.0.1 that takes one request and answers `head`
    /// then `body`; joins to the request it got (head lines and body).
    fn receiver(head: String, body: Vec<u8>) -> (String, JoinHandle<(Vec<String>, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let served = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                lines.push(line.trim_end().to_string());
            }
            let length: usize = lines
                .iter()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).unwrap();
            let mut stream = stream;
            // The client may hang up part way through a long answer.
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            (lines, String::from_utf8(request_body).unwrap())
        });
        (url, served)
    }

    fn notifier(url: String, dir: &std::path::Path) -> Notifier {
        let secret = dir.join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        Notifier::new(Settings {
            webhooks: BTreeMap::from([(
                "hook".to_string(),
                Webhook {
                    url,
                    secret: SecretSource::File(secret),
                    headers: BTreeMap::new(),
                    timeout: Duration::from_secs(30),
                },
            )]),
            ..Settings::default()
        })
    }

    fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
        lines.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    #[test]
    fn a_delivery_is_signed_and_its_answer_returned() {
        let dir = tempfile::tempdir().unwrap();
        let answer = r#"{"ok":true}"#;
        let (url, served) = receiver(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                answer.len()
            ),
            answer.into(),
        );
        let payload = json!({"user": "u-ada"});
        let delivery = test_runtime()
            .block_on(notifier(url, dir.path()).deliver_webhook("hook", &payload, "msg-1"))
            .unwrap();
        assert_eq!((delivery.status, delivery.body), (200, json!({"ok": true})));
        let (lines, body) = served.join().unwrap();
        assert_eq!(body, payload.to_string());
        assert_eq!(header(&lines, "webhook-id"), Some("msg-1"));
        let timestamp: i64 = header(&lines, "webhook-timestamp")
            .unwrap()
            .parse()
            .unwrap();
        let expected = sign(SECRET, "msg-1", timestamp, &body).unwrap();
        assert_eq!(header(&lines, "webhook-signature"), Some(expected.as_str()));
        assert!(
            header(&lines, "user-agent")
                .unwrap()
                .starts_with("keystep/")
        );
    }

    #[test]
    fn an_answer_past_the_cap_fails_the_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let (url, served) = receiver(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".into(),
            // 2 MB in 64 KiB chunks, with no length announced up front.
            (0..32)
                .flat_map(|_| {
                    let mut chunk = b"10000\r\n".to_vec();
                    chunk.extend(std::iter::repeat_n(b'a', 1 << 16));
                    chunk.extend(b"\r\n");
                    chunk
                })
                .chain(*b"0\r\n\r\n")
                .collect(),
        );
        let notifier = notifier(url, dir.path());
        let error = test_runtime()
            .block_on(notifier.deliver_webhook("hook", &json!({}), "msg-2"))
            .unwrap_err();
        assert_eq!(
            error,
            Error::fatal("webhook `hook`: the answer is larger than 1048576 bytes")
        );
        served.join().unwrap();
    }

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
