//! An automation's paused runs through the API: released, or cancelled
//! with a reason; either recorded in the breakers' log with the token's
//! holder as the actor.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::errors::{ApiError, parse_body};
use super::{Api, Body, Checked};
use crate::config::TokenScope;

/// `POST /v1/automations/{name}/resume-paused`.
#[utoipa::path(
    post,
    path = "/v1/automations/{name}/resume-paused",
    tag = "runs",
    params(("name" = String, Path, description = "The automation")),
    responses(
        (status = 200, description = "The paused runs now pending (none: nothing was paused)", body = super::openapi::Released),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 403, description = "A read token", body = super::openapi::ErrorBody),
    )
)]
pub async fn resume(
    State(api): State<Arc<Api>>,
    Checked(Path(name)): Checked<Path<String>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    let who = api.tokens.authorize(&headers, TokenScope::Operate)?;
    let actor = format!("api token {who}");
    let ids = api
        .engine
        .resume_paused(&name, &actor)
        .await
        .map_err(|e| ApiError::internal(&e.into()))?;
    api.wake.notify_one();
    Ok(axum::Json(
        json!({ "automation": name, "action": "resumed", "runs": ids }),
    ))
}

/// Why an automation's paused runs are cancelled.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPaused {
    reason: String,
}

/// `POST /v1/automations/{name}/cancel-paused` with `{"reason": "..."}`.
#[utoipa::path(
    post,
    path = "/v1/automations/{name}/cancel-paused",
    tag = "runs",
    params(("name" = String, Path, description = "The automation")),
    request_body = CancelPaused,
    responses(
        (status = 200, description = "The paused runs now cancelled (none: nothing was paused)", body = super::openapi::Released),
        (status = 400, description = "Bad JSON or body", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 403, description = "A read token", body = super::openapi::ErrorBody),
    )
)]
pub async fn cancel(
    State(api): State<Arc<Api>>,
    Checked(Path(name)): Checked<Path<String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<axum::Json<Json>, ApiError> {
    let who = api.tokens.authorize(&headers, TokenScope::Operate)?;
    let actor = format!("api token {who}");
    let body: CancelPaused = parse_body(&body)?;
    let ids = api
        .engine
        .cancel_paused(&name, &body.reason, &actor)
        .await
        .map_err(|e| ApiError::internal(&e.into()))?;
    api.wake.notify_one();
    Ok(axum::Json(
        json!({ "automation": name, "action": "cancelled", "runs": ids }),
    ))
}
