//! The app's API: where it is (`config.base_url`), its token (the secret
//! `api_token`, sent as a bearer token), and its answers mapped to keystep's
//! error codes. Change the paths and headers here to fit your app.

use crate::keystep::plugin::host;
use crate::keystep::plugin::types::Error;
use serde_json::Value;

pub struct Api {
    base_url: String,
    token: String,
}

impl Api {
    pub fn from_config() -> Result<Api, Error> {
        let config: Value = serde_json::from_str(&host::config()).unwrap_or(Value::Null);
        let Some(base_url) = config["base_url"].as_str().filter(|u| !u.is_empty()) else {
            return Err(invalid("{{name}}.toml has no config.base_url".into()));
        };
        Ok(Api {
            base_url: base_url.trim_end_matches('/').to_string(),
            // Fails with `denied` unless the grant file names the secret.
            token: host::secret("api_token")?,
        })
    }

    /// Sends a request; answers the status and the body as JSON (null when
    /// it is not JSON). Fails only when the request does.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: &str,
    ) -> Result<(u16, Value), Error> {
        let mut headers = vec![
            ("Authorization".into(), format!("Bearer {}", self.token)),
            ("Accept".into(), "application/json".into()),
            // The same on a replay after a crash: the app can skip a repeat.
            ("Idempotency-Key".into(), idempotency_key.into()),
        ];
        if body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let request = host::HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.base_url),
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
            timeout_ms: None,
        };
        // `denied` (a host the grant file does not allow) and `unavailable`
        // (retryable: connection refused, timeout) pass through.
        let response = host::http_fetch(&request)?;
        let answer = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((response.status, answer))
    }

    /// Sends a request and fails unless the app answers 2xx.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: &str,
    ) -> Result<Value, Error> {
        let (status, answer) = self.send(method, path, body, idempotency_key)?;
        check(&format!("{method} {path}"), status, answer)
    }
}

/// The answer of a 2xx; any other status as an error with keystep's code
/// for it, retryable when trying again later may work.
pub fn check(what: &str, status: u16, answer: Value) -> Result<Value, Error> {
    let (code, retryable) = match status {
        200..=299 => return Ok(answer),
        401 | 403 => ("denied", false),
        404 => ("not-found", false),
        409 => ("already-exists", false),
        429 => ("rate-limited", true),
        400..=499 => ("invalid-argument", false),
        500.. => ("unavailable", true),
        _ => ("internal", false),
    };
    let why = answer["error"].as_str().unwrap_or("no error message");
    Err(Error {
        code: code.into(),
        message: format!("{{name}}: {what} answered {status}: {why}"),
        retryable,
    })
}

/// Percent-encodes all but unreserved characters, for a path segment.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn invalid(message: String) -> Error {
    Error {
        code: "invalid-argument".into(),
        message,
        retryable: false,
    }
}

pub fn internal(message: String) -> Error {
    Error {
        code: "internal".into(),
        message,
        retryable: false,
    }
}
