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

use super::errors::{ApiError, parse_body, parse_json};
use super::{Api, Body, Checked};
use crate::config::TokenScope;
use crate::history;
use crate::store::runs::{Run, RunFilter, RunState};

/// The longest `?wait` honoured.
const MOST_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// How long to wait for the run to end (`10s`, at most 60 s): a run
    /// that ends by then is answered whole, with its output.
    #[param(pattern = "^[0-9]{1,5}(ms|s|m)$")]
    wait: Option<String>,
}

/// `POST /v1/automations/{name}/runs`: the body is the input.
#[utoipa::path(
    post,
    path = "/v1/automations/{name}/runs",
    tag = "runs",
    params(("name" = String, Path, description = "The automation"), StartQuery),
    request_body(content = Option<Object>, description = "The run's input, its `ctx.trigger` (none: `{}`); a `user_id` brings the user's record as `user`"),
    responses(
        (status = 200, description = "The run ended within `wait`", body = super::openapi::RunHistory),
        (status = 202, description = "Started (pending, running, or paused by the automation's circuit breaker)", body = super::openapi::Accepted),
        (status = 400, description = "Bad JSON or input", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 403, description = "A read token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such automation", body = super::openapi::ErrorBody),
        (status = 413, description = "Over 1 MiB", body = super::openapi::ErrorBody),
        (status = 422, description = "The input names a user the directory does not hold (`unknown_subject`), or the trigger condition is false (`condition_false`) or cannot be evaluated on it (`condition_error`)", body = super::openapi::ErrorBody),
    )
)]
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
        Some(text) => Some(parse_wait(text).ok_or_else(|| {
            ApiError::bad_input(format!(
                "wait is a duration such as `10s` or `500ms`, not `{text}`"
            ))
        })?),
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
    let holds = automation
        .trigger
        .holds(&trigger, api.engine.directory())
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "condition_error",
                format!("the trigger condition cannot be evaluated on this input: {e}"),
            )
        })?;
    if !holds {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "condition_false",
            format!("the trigger condition of {name} is false for this input; nothing runs"),
        ));
    }
    let started = api.engine.start(automation, trigger).await?;
    let id = started.id;
    // Told of the end before the driver is woken, so it cannot be missed.
    // A run its breaker paused does not end by itself: no one waits.
    let finished = wait
        .filter(|_| !started.paused)
        .map(|wait| (wait, api.ended.subscribe(id)));
    api.wake.notify_one();
    // Pending, running, or paused by the automation's circuit breaker.
    let mut state = started.state();
    if let Some((wait, finished)) = finished {
        if tokio::time::timeout(wait, finished).await.is_err() {
            api.ended.forget(id);
        }
        let (run, history) = api.history(id)?;
        if run.is_terminal() {
            return Ok(axum::Json(history).into_response());
        }
        state = run.state;
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"run_id": id, "state": state})),
    )
        .into_response())
}

/// `?wait=`: a whole number of `ms`, `s` or `m` (the document's pattern),
/// at most [`MOST_WAIT`].
fn parse_wait(text: &str) -> Option<Duration> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = text[..digits].parse().ok().filter(|_| digits <= 5)?;
    let wait = match &text[digits..] {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return None,
    };
    Some(wait.min(MOST_WAIT))
}

/// `GET /v1/runs/{id}`.
#[utoipa::path(
    get,
    path = "/v1/runs/{id}",
    tag = "runs",
    params(("id" = i64, Path, description = "The run")),
    responses(
        (status = 200, description = "The run with every step's input, output, attempts and error", body = super::openapi::RunHistory),
        (status = 400, description = "Not a run id", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 404, description = "No such run", body = super::openapi::ErrorBody),
    )
)]
pub async fn show(
    State(api): State<Arc<Api>>,
    Checked(Path(id)): Checked<Path<i64>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    Ok(axum::Json(api.history(id)?.1))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    automation: Option<String>,
    #[param(value_type = Option<super::openapi::RunStateName>)]
    state: Option<String>,
    subject: Option<String>,
    /// The `next` of the page before.
    cursor: Option<i64>,
    /// How many runs a page holds: 1 to 500, 50 unless given.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// `GET /v1/runs`: newest first; `next` is the cursor of the page after.
#[utoipa::path(
    get,
    path = "/v1/runs",
    tag = "runs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of runs", body = super::openapi::RunPage),
        (status = 400, description = "A bad filter", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
    )
)]
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
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_input(format!(
            "limit is 1 to 500, not {limit}"
        )));
    }
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

/// Why a run is cancelled: recorded in its error, with the token's name.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    reason: String,
}

/// `POST /v1/runs/{id}/cancel` with `{"reason": "..."}`.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/cancel",
    tag = "runs",
    params(("id" = i64, Path, description = "The run")),
    request_body = CancelBody,
    responses(
        (status = 200, description = "Cancelled, with the child runs it waited on", body = super::openapi::RunSummary),
        (status = 400, description = "Bad JSON or body", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 403, description = "A read token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such run", body = super::openapi::ErrorBody),
        (status = 409, description = "The run had ended", body = super::openapi::ErrorBody),
    )
)]
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
    let body: CancelBody = parse_body(&body)?;
    let run = api
        .engine
        .cancel(id, &format!("{} (by API token {who})", body.reason))
        .await?;
    Ok(axum::Json(history::summary(&run)))
}

impl Api {
    /// Run `id` and its history, read together.
    fn history(&self, id: i64) -> Result<(Run, Json), ApiError> {
        history::load(self.engine.store(), id)?
            .ok_or_else(|| ApiError::not_found(format!("no run {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_a_number_and_a_unit_at_most_a_minute() {
        assert_eq!(parse_wait("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_wait("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_wait("5m"), Some(MOST_WAIT));
        for bad in ["", "0", "10", "s", "1h", "1.5s", "-1s", "123456s", "10 s"] {
            assert_eq!(parse_wait(bad), None, "{bad:?}");
        }
    }
}
