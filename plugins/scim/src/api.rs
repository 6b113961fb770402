//! The SCIM service provider over the host's `http-fetch`: where it is, the
//! token, and how its answers map to the plugin's typed errors (RFC 7644
//! section 3.12).

use std::time::Duration;

use serde_json::{Value, json};

use crate::keystep::plugin::host;
use crate::keystep::plugin::types::Error;

/// The media type of SCIM bodies (RFC 7644 section 3.1).
const SCIM_JSON: &str = "application/scim+json";
/// The most a 429 or 503 is waited out inside one call, in all.
const MOST_WAIT: Duration = Duration::from_secs(10);
/// The most tries of one request.
const MOST_TRIES: u32 = 3;

/// The service provider: its base URL (`config.base_url`), the bearer token
/// (the secret `config.token_secret`, `scim_token` unless set) and the page
/// size (`config.page_size`, 100 unless set).
pub struct Api {
    base_url: String,
    token: String,
    pub page_size: u32,
    /// Groups a page when listing memberships (`config.group_page_size`,
    /// 20 unless set): each carries its members.
    pub group_page_size: u32,
}

impl Api {
    pub fn new() -> Result<Api, Error> {
        let config: Value = serde_json::from_str(&host::config()).unwrap_or(Value::Null);
        let base_url = config["base_url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("the scim config has no base_url".into()))?
            .trim_end_matches('/')
            .to_string();
        let secret = config["token_secret"].as_str().unwrap_or("scim_token");
        let token = host::secret(secret)?;
        let size = |key: &str, default: u32, most: u64| {
            config[key]
                .as_u64()
                .map_or(default, |n| n.clamp(1, most) as u32)
        };
        Ok(Api {
            base_url,
            token,
            page_size: size("page_size", 100, 1000),
            group_page_size: size("group_page_size", 20, 200),
        })
    }

    /// Sends a request; the status and the body as JSON (null when empty
    /// or not JSON). A 429 or 503 with a short `Retry-After` is waited out
    /// and tried again (at most [`MOST_TRIES`] tries, [`MOST_WAIT`] in all).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let mut waited = Duration::ZERO;
        let mut tries = 0;
        loop {
            tries += 1;
            let response = self.fetch(method, path, body)?;
            let wait = retry_after(&response.headers).unwrap_or(Duration::from_secs(1));
            let again = matches!(response.status, 429 | 503)
                && tries < MOST_TRIES
                && waited + wait <= MOST_WAIT;
            if !again {
                let answer = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                let answer = match retry_after(&response.headers) {
                    Some(after) if response.status >= 429 => with_retry_after(answer, after),
                    _ => answer,
                };
                return Ok((response.status, answer));
            }
            std::thread::sleep(wait);
            waited += wait;
        }
    }

    fn fetch(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<host::HttpResponse, Error> {
        let mut headers = vec![
            (
                "Authorization".to_string(),
                format!("Bearer {}", self.token),
            ),
            ("Accept".to_string(), SCIM_JSON.to_string()),
        ];
        if body.is_some() {
            headers.push(("Content-Type".into(), SCIM_JSON.into()));
        }
        let request = host::HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.base_url),
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
            timeout_ms: None,
        };
        host::http_fetch(&request).map_err(|e| Error {
            message: format!("scim: {method} {path}: {}", e.message),
            ..e
        })
    }

    /// Sends a request and fails unless the answer is a 2xx.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let (status, answer) = self.send(method, path, body)?;
        check(method, path, status, &answer)?;
        Ok(answer)
    }

    /// A `ListResponse`'s resources at `path` with `query` (already
    /// encoded, without `?`), and the total the server announces.
    pub fn list(&self, path: &str, query: &str) -> Result<(Vec<Value>, u64), Error> {
        let path = format!("{path}?{query}");
        let mut answer = self.call("GET", &path, None)?;
        let total = answer["totalResults"].as_u64().unwrap_or(0);
        match answer["Resources"].take() {
            Value::Array(items) => Ok((items, total)),
            // RFC 7644 section 3.4.2: `Resources` may be left out when empty.
            Value::Null => Ok((Vec::new(), total)),
            _ => Err(Error {
                code: "internal".into(),
                message: format!("scim: GET {path} answered a `Resources` that is not a list"),
                retryable: false,
            }),
        }
    }
}

/// Fails unless the answer is a 2xx.
pub fn check(method: &str, path: &str, status: u16, answer: &Value) -> Result<(), Error> {
    match (200..300).contains(&status) {
        true => Ok(()),
        false => Err(error(method, path, status, answer)),
    }
}

/// A non-2xx answer as the plugin's error: 401/403 `unauthorized`, 404
/// `not-found`, 409 `conflict`, 429 `rate-limited` and 5xx `unavailable`
/// (both retryable), other 4xx `invalid-argument`.
pub fn error(method: &str, path: &str, status: u16, answer: &Value) -> Error {
    let (code, retryable) = match status {
        401 | 403 => ("unauthorized", false),
        404 => ("not-found", false),
        409 => ("conflict", false),
        429 => ("rate-limited", true),
        500.. => ("unavailable", true),
        _ => ("invalid-argument", false),
    };
    let detail = answer["detail"].as_str().unwrap_or("no detail");
    let scim_type = answer["scimType"]
        .as_str()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    let after = answer["retryAfterSeconds"]
        .as_u64()
        .map(|s| format!("; retry after {s} s"))
        .unwrap_or_default();
    Error {
        code: code.into(),
        message: format!("scim: {method} {path} answered {status}{scim_type}: {detail}{after}"),
        retryable,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not waited on).
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn with_retry_after(mut answer: Value, after: Duration) -> Value {
    if !answer.is_object() {
        answer = json!({});
    }
    answer["retryAfterSeconds"] = json!(after.as_secs());
    answer
}

/// Percent-encodes everything but unreserved characters, for a path
/// segment or a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A SCIM string literal for a filter (RFC 7644 section 3.4.2.2).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

pub fn invalid(message: String) -> Error {
    Error {
        code: "invalid-argument".into(),
        message,
        retryable: false,
    }
}
