//! Incoming webhooks, `POST /v1/hooks/{automation}`, verified as the
//! Standard Webhooks specification says: the HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}` under the automation's secret,
//! a timestamp within five minutes of now, and a `webhook-id` not seen
//! before for that automation (recorded in the transaction that starts the
//! run). Whatever fails, nothing starts. The body is `ctx.trigger`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::same;
use super::errors::{ApiError, parse_json};
use super::{Api, Body, Checked};
use crate::engine::{Claim, Start};
use crate::secret::SecretSource;

/// How far a message's timestamp may be from now, in seconds.
const TOLERANCE: i64 = 5 * 60;

/// Why a message is refused.
#[derive(Debug, PartialEq)]
pub enum Refused {
    Missing(&'static str),
    Stale,
    BadSignature,
}

/// Checks a message's headers and signature against `secret` at `now`
/// (Unix seconds).
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<String, Refused> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refused::Missing(name))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .parse()
        .map_err(|_| Refused::Missing("webhook-timestamp"))?;
    if (now - timestamp).abs() > TOLERANCE {
        return Err(Refused::Stale);
    }
    let body = std::str::from_utf8(body).map_err(|_| Refused::BadSignature)?;
    let expected =
        crate::notify::sign(secret, id, timestamp, body).map_err(|_| Refused::BadSignature)?;
    let signed = header("webhook-signature")?
        .split(' ')
        .any(|candidate| same(candidate.as_bytes(), expected.as_bytes()));
    if !signed {
        return Err(Refused::BadSignature);
    }
    Ok(id.to_string())
}

/// `POST /v1/hooks/{automation}`.
#[utoipa::path(
    post,
    path = "/v1/hooks/{automation}",
    tag = "webhooks",
    security(()),
    params(
        ("automation" = String, Path, description = "An automation with a `webhook` trigger"),
        ("webhook-id" = String, Header, description = "The message's id: a second message with it is refused"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds, within 5 minutes of now"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`, several separated by spaces"),
    ),
    request_body(content = Object, description = "The run's `ctx.trigger`"),
    responses(
        (status = 202, description = "Verified: the run started", body = super::openapi::Accepted),
        (status = 400, description = "A header missing or stale, or bad JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "The signature does not match", body = super::openapi::ErrorBody),
        (status = 404, description = "No automation with a webhook trigger by that name", body = super::openapi::ErrorBody),
        (status = 409, description = "This webhook-id was received before", body = super::openapi::ErrorBody),
        (status = 413, description = "Over 1 MiB", body = super::openapi::ErrorBody),
    )
)]
pub async fn receive(
    State(api): State<Arc<Api>>,
    Checked(Path(name)): Checked<Path<String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let automation = api
        .automation(&name)
        .filter(|a| a.trigger.kind == "webhook")
        .ok_or_else(|| {
            ApiError::not_found(format!("no automation `{name}` with a webhook trigger"))
        })?;
    let secret = automation
        .trigger
        .settings
        .get("secret")
        .and_then(|s| s.as_str())
        .ok_or_else(|| {
            ApiError::not_found(format!("automation `{name}` names no webhook secret"))
        })?;
    let base = automation
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let secret = SecretSource::parse(secret, base, "the webhook secret")
        .and_then(|s| s.read())
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("automation `{name}`: {e}")))?;
    let id = verify(&secret, &headers, &body, chrono::Utc::now().timestamp()).map_err(refused)?;
    let input = parse_json(&body)?;
    let trigger = api.engine.trigger(input)?;
    let start = Start {
        lineage: vec![automation.name.clone()],
        automation,
        trigger,
        event: None,
    };
    let now = chrono::Utc::now();
    let claim: Claim = Box::new(move |tx| tx.triggers().receive(&name, &id, now));
    match api.engine.start_all(vec![start], claim).await? {
        Some(runs) => {
            let run = runs.into_iter().flatten().next();
            api.wake.notify_one();
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({"run_id": run.map(|r| r.id), "state": run.map(|r| r.state())})),
            )
                .into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "replayed",
            "this webhook-id was received before; nothing started",
        )),
    }
}

fn refused(why: Refused) -> ApiError {
    match why {
        Refused::Missing(header) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            format!("the `{header}` header is missing or malformed"),
        ),
        Refused::Stale => ApiError::new(
            StatusCode::BAD_REQUEST,
            "stale_timestamp",
            "webhook-timestamp is more than 5 minutes from now",
        ),
        Refused::BadSignature => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the signature does not match",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        h.insert("webhook-signature", signature.parse().unwrap());
        h
    }

    #[test]
    fn accepts_the_specification_example_and_refuses_what_differs() {
        // The Standard Webhooks specification's own example.
        let body = br#"{"test": 2432232314}"#;
        let (id, ts) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330);
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            verify(SECRET, &headers(id, ts, good), body, ts + 10),
            Ok(id.into())
        );
        let several = format!("v1,bm90IHRoaXM= {good}");
        assert!(verify(SECRET, &headers(id, ts, &several), body, ts).is_ok());
        assert_eq!(
            verify(SECRET, &headers(id, ts, good), br#"{"test": 1}"#, ts),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &headers("msg_other", ts, good), body, ts),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &headers(id, ts, good), body, ts + 301),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(SECRET, &headers(id, ts, good), body, ts - 301),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(SECRET, &HeaderMap::new(), body, ts),
            Err(Refused::Missing("webhook-id"))
        );
    }
}
