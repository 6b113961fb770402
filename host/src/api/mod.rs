//! The HTTP API of `keystep serve` (design section 8): JSON in and out
//! under `/v1`, bearer tokens with a scope, incoming webhooks verified per
//! Standard Webhooks, and `/healthz` and `/readyz`. Errors are
//! `{"error": {"code", "message"}}` with stable codes; bodies are limited
//! to 1 MiB.

pub mod auth;
mod breakers;
mod directory;
mod ended;
mod errors;
pub mod hooks;
pub mod metrics;
mod openapi;
mod runs;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header::CONTENT_TYPE, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json as AxumJson, Router};
use serde_json::{Value as Json, json};
use tokio::sync::Notify;

use crate::automation::Automation;
use crate::config::TokenScope;
use crate::engine::Engine;
use crate::triggers::automations::{Automations, FileState};
pub use auth::Tokens;
pub use ended::Ended;
pub use errors::ApiError;
pub use metrics::{Metrics, Scrape};

/// The largest request body accepted.
const MOST_BODY: usize = 1 << 20;

/// What the handlers share.
pub struct Api {
    pub engine: Engine,
    pub tokens: Tokens,
    /// Wakes `serve`'s driver for a run just started.
    pub wake: Arc<Notify>,
    pub ended: Arc<Ended>,
    pub metrics: Arc<Metrics>,
    /// The automations `serve` serves, as of its last look at the files.
    automations: Mutex<Vec<Arc<Automation>>>,
    /// The automation files and their validation state.
    files: Mutex<Vec<FileState>>,
    ready: AtomicBool,
}

impl Api {
    pub fn new(
        engine: Engine,
        tokens: Tokens,
        wake: Arc<Notify>,
        ended: Arc<Ended>,
        metrics: Arc<Metrics>,
    ) -> Api {
        Api {
            engine,
            tokens,
            wake,
            ended,
            metrics,
            automations: Mutex::new(Vec::new()),
            files: Mutex::new(Vec::new()),
            ready: AtomicBool::new(false),
        }
    }

    /// The automations to serve from now on (`serving`, as the triggers
    /// have them), and every file's state.
    pub fn serve(&self, serving: Vec<Arc<Automation>>, automations: &Automations) {
        *self.automations.lock().unwrap() = serving;
        *self.files.lock().unwrap() = automations.files();
    }

    /// Says that `serve` is ready (`/readyz`).
    pub fn ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    fn automation(&self, name: &str) -> Option<Arc<Automation>> {
        let all = self.automations.lock().unwrap();
        all.iter().find(|a| a.name == name).cloned()
    }
}

/// The API's routes.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route(
            "/v1/openapi.json",
            get(|| async { AxumJson(openapi::json()) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(scrape))
        .route("/v1/automations", get(automations))
        .route("/v1/automations/{name}/runs", post(runs::start))
        .route(
            "/v1/automations/{name}/resume-paused",
            post(breakers::resume),
        )
        .route(
            "/v1/automations/{name}/cancel-paused",
            post(breakers::cancel),
        )
        .route("/v1/runs", get(runs::list))
        .route("/v1/runs/{id}", get(runs::show))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/hooks/{automation}", post(hooks::receive))
        .route("/v1/users/{id}", get(directory::user))
        .route("/v1/tasks", get(directory::tasks))
        .route("/v1/tasks/{id}/complete", post(directory::complete))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MOST_BODY))
        .with_state(api)
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "serve", security(()), responses((status = 200, description = "Alive", body = openapi::Health)))]
async fn health() -> AxumJson<Json> {
    AxumJson(json!({"ok": true}))
}

/// `GET /readyz`: automations loaded and the event log's place known.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "serve",
    security(()),
    responses(
        (status = 200, description = "Ready", body = openapi::Ready),
        (status = 503, description = "Starting", body = openapi::ErrorBody),
    )
)]
async fn readyz(State(api): State<Arc<Api>>) -> Result<AxumJson<Json>, ApiError> {
    if !api.ready.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "serve is starting",
        ));
    }
    Ok(AxumJson(json!({"ready": true})))
}

/// `GET /metrics` (a `read` token): Prometheus text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "serve",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "No token or an unknown one", body = openapi::ErrorBody),
    )
)]
async fn scrape(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let now = chrono::Utc::now();
    let mut scrape = api
        .engine
        .store()
        .read(|tx| {
            let behind = match tx.triggers().position(crate::triggers::events::READER)? {
                Some(at) => tx.triggers().last_event()? - at,
                None => 0,
            };
            Ok::<_, crate::error::StoreError>(Scrape {
                runs: tx.runs().census()?,
                due: tx.runs().count_due(now)?,
                events_behind: behind,
                trips: tx.breakers().trips()?,
                plugin_calls: Vec::new(),
            })
        })
        .map_err(|e| ApiError::internal(&e.into()))?;
    scrape.plugin_calls = api.engine.plugins().calls().all();
    let text = api.metrics.render(&scrape);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `GET /v1/automations`: the automations served, with their triggers.
#[utoipa::path(
    get,
    path = "/v1/automations",
    tag = "serve",
    responses(
        (status = 200, description = "The automations served", body = openapi::AutomationList),
        (status = 401, description = "No token or an unknown one", body = openapi::ErrorBody),
    )
)]
async fn automations(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
) -> Result<AxumJson<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let files = api.files.lock().unwrap().clone();
    let list: Vec<Json> = files.iter().map(file_state).collect();
    Ok(AxumJson(json!({ "automations": list })))
}

/// One automation file: the version it serves (the file as it is, or its
/// last good version) and whether the file as it is validates.
fn file_state(f: &FileState) -> Json {
    let a = f.serving.as_deref();
    json!({
        "file": f.file.display().to_string(),
        "name": a.map(|a| &a.name),
        "description": a.and_then(|a| a.description.as_ref()),
        "trigger": a.map(|a| &a.trigger.kind),
        "version": a.map(|a| &a.hash),
        "steps": a.map(|a| a.steps.len()),
        "valid": f.problem.is_none(),
        "problem": f.problem,
    })
}

/// An extractor whose rejection is answered as an [`ApiError`]: a bad
/// path, query or body says what was wrong, in the API's error shape.
pub struct Checked<E>(pub E);

impl<S: Send + Sync, E> FromRequestParts<S> for Checked<E>
where
    E: FromRequestParts<S>,
    E::Rejection: std::fmt::Display,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        E::from_request_parts(parts, state)
            .await
            .map(Checked)
            .map_err(|e| ApiError::bad_input(e.to_string()))
    }
}

/// A request body of at most [`MOST_BODY`] bytes.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| {
                let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "bad_input"
                };
                ApiError::new(
                    e.status(),
                    code,
                    format!("the body: {e} (at most {MOST_BODY} bytes)"),
                )
            })
    }
}
