//! Runs through the API: start one (`?wait=10s` answers with the finished
//! run), read one with every step, list them (filters and a cursor), and
//! cancel one.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::errors::{ApiError, parse_json};
use super::{Api, Body, Checked};
use crate::config::TokenScope;
use crate::expr::Scope;
use crate::history;
use crate::store::runs::{Run, RunFilter, RunState};

/// The longest `?wait` honoured.
const MOST_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// How long to wait for the run to end (`10s`).
    wait: Option<String>,
}

/// `POST /v1/automations/{name}/runs`: the body is the input.
pub async fn start(
    State(api): State<Arc<Api>>,
    Checked(Path(name)): Checked<Path<String>>,
    Checked(Query(query)): Checked<Query<StartQuery>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Operate)?;
    let wait = match &query.wait {
        None => None,
        Some(text) => Some(
            humantime::parse_duration(text)
                .map_err(|_| {
                    ApiError::bad_input(format!("wait is a duration such as `10s`, not `{text}`"))
                })?
                .min(MOST_WAIT),
        ),
    };
    let input = if body.is_empty() {
        json!({})
    } else {
        parse_json(&body)?
    };
    let automation = api
        .automation(&name)
        .ok_or_else(|| ApiError::not_found(format!("no automation `{name}`")))?;
    let trigger = api.engine.trigger(input)?;
    if let Some(when) = &automation.trigger.when {
        let holds = when
            .eval_bool(&Scope::new(&json!({ "trigger": trigger })))
            .map_err(|e| ApiError::bad_input(format!("trigger condition: {e}")))?;
        if !holds {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "condition_false",
                format!("the trigger condition of {name} is false for this input; nothing runs"),
            ));
        }
    }
    let id = api.engine.start(automation, trigger).await?;
    // Told of the end before the driver is woken, so it cannot be missed.
    let finished = wait.map(|wait| (wait, api.ended.subscribe(id)));
    api.wake.notify_one();
    if let Some((wait, finished)) = finished {
        let mut run = api.load(id)?;
        if !run.is_terminal() {
            let _ = tokio::time::timeout(wait, finished).await;
            api.ended.forget(id);
            run = api.load(id)?;
        }
        if run.is_terminal() {
            return Ok(axum::Json(history::of(api.engine.store(), &run)?).into_response());
        }
    }
    // Pending, running, or paused by the automation's circuit breaker.
    let state = api.load(id)?.state;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"run_id": id, "state": state})),
    )
        .into_response())
}

/// `GET /v1/runs/{id}`.
pub async fn show(
    State(api): State<Arc<Api>>,
    Checked(Path(id)): Checked<Path<i64>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let run = api.load(id)?;
    Ok(axum::Json(history::of(api.engine.store(), &run)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    automation: Option<String>,
    state: Option<String>,
    subject: Option<String>,
    /// The `next` of the page before.
    cursor: Option<i64>,
    limit: Option<usize>,
}

/// `GET /v1/runs`: newest first; `next` is the cursor of the page after.
pub async fn list(
    State(api): State<Arc<Api>>,
    Checked(Query(query)): Checked<Query<ListQuery>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let state = match &query.state {
        None => None,
        Some(text) => Some(
            RunState::parse(text)
                .ok_or_else(|| ApiError::bad_input(format!("no run state `{text}`")))?,
        ),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let filter = RunFilter {
        automation: query.automation,
        state,
        subject: query.subject,
        before: query.cursor,
        limit,
    };
    let runs = api
        .engine
        .store()
        .read(|tx| tx.runs().list(&filter))
        .map_err(|e| ApiError::internal(&e.into()))?;
    let next = (runs.len() == limit)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    let runs: Vec<Json> = runs.iter().map(history::summary).collect();
    Ok(axum::Json(json!({ "runs": runs, "next": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    reason: String,
}

/// `POST /v1/runs/{id}/cancel` with `{"reason": "..."}`.
pub async fn cancel(
    State(api): State<Arc<Api>>,
    Checked(Path(id)): Checked<Path<i64>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<axum::Json<Json>, ApiError> {
    let who = api
        .tokens
        .authorize(&headers, TokenScope::Operate)?
        .to_string();
    let body: CancelBody = serde_json::from_value(parse_json(&body)?)
        .map_err(|e| ApiError::bad_input(format!("the body: {e}")))?;
    let run = api
        .engine
        .cancel(id, &format!("{} (by API token {who})", body.reason))
        .await?;
    Ok(axum::Json(history::summary(&run)))
}

impl Api {
    pub(super) fn load(&self, id: i64) -> Result<Run, ApiError> {
        self.engine
            .store()
            .read(|tx| tx.runs().load(id))
            .map_err(|e| ApiError::internal(&e.into()))?
            .ok_or_else(|| ApiError::not_found(format!("no run {id}")))
    }
}
