//! The directory through the API: a user with their grants, tasks listed
//! by assignee, subject, kind and state, and a task completed (each change
//! with its event, the token's holder as its actor).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::errors::{ApiError, parse_body};
use super::{Api, Body, Checked};
use crate::config::TokenScope;
use crate::directory::{DirError, TaskFilter};
use crate::store::Keep;

/// What `GET /v1/tasks?state=` takes: a task state, or `all`.
pub const TASK_STATE_FILTERS: &[&str] = &["open", "completed", "cancelled", "all"];

/// `GET /v1/users/{id}`: the user and their grants.
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    tag = "directory",
    params(("id" = String, Path, description = "The user")),
    responses(
        (status = 200, description = "The user and their grants", body = super::openapi::UserWithGrants),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 404, description = "No such user", body = super::openapi::ErrorBody),
    )
)]
pub async fn user(
    State(api): State<Arc<Api>>,
    Checked(Path(id)): Checked<Path<String>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let found = api.engine.store().read(|tx| {
        let dir = tx.directory();
        let Some(user) = dir.user(&id)? else {
            return Ok::<_, DirError>(None);
        };
        Ok(Some((user, dir.grants_of(&id)?)))
    });
    let (user, grants) = found
        .map_err(directory_error)?
        .ok_or_else(|| ApiError::not_found(format!("no user `{id}`")))?;
    Ok(axum::Json(
        json!({ "user": user.to_json(), "grants": grants }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    assignee: Option<String>,
    subject: Option<String>,
    #[param(value_type = Option<super::openapi::TaskKindName>)]
    kind: Option<String>,
    /// `open` (the default), `completed`, `cancelled` or `all`.
    #[param(value_type = Option<super::openapi::TaskStateName>)]
    state: Option<String>,
}

/// `GET /v1/tasks`.
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "directory",
    params(TaskQuery),
    responses(
        (status = 200, description = "The tasks that match", body = super::openapi::TaskList),
        (status = 400, description = "A bad filter", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
    )
)]
pub async fn tasks(
    State(api): State<Arc<Api>>,
    Checked(Query(query)): Checked<Query<TaskQuery>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let state = query.state.unwrap_or_else(|| "open".into());
    if !TASK_STATE_FILTERS.contains(&state.as_str()) {
        return Err(ApiError::bad_input(format!(
            "state is one of {}, not `{state}`",
            TASK_STATE_FILTERS.join(", ")
        )));
    }
    if let Some(kind) = query
        .kind
        .as_deref()
        .filter(|k| !crate::directory::TASK_KINDS.contains(k))
    {
        return Err(ApiError::bad_input(format!(
            "kind is one of {}, not `{kind}`",
            crate::directory::TASK_KINDS.join(", ")
        )));
    }
    let filter = TaskFilter {
        assignee: query.assignee,
        subject: query.subject,
        kinds: query.kind.into_iter().collect(),
        states: if state == "all" {
            Vec::new()
        } else {
            vec![state]
        },
    };
    let tasks = api
        .engine
        .store()
        .read(|tx| tx.directory().tasks(&filter))
        .map_err(directory_error)?;
    Ok(axum::Json(json!({ "tasks": tasks })))
}

/// How a task is completed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// For a review task: `keep` or `revoke`.
    decision: Option<String>,
}

/// `POST /v1/tasks/{id}/complete`.
#[utoipa::path(
    post,
    path = "/v1/tasks/{id}/complete",
    tag = "directory",
    params(("id" = i64, Path, description = "The task")),
    request_body(content = Option<CompleteBody>, description = "Optional: a review's decision"),
    responses(
        (status = 200, description = "The task, completed (its change made, with its event)", body = Object),
        (status = 400, description = "Bad JSON or body", body = super::openapi::ErrorBody),
        (status = 401, description = "No token or an unknown one", body = super::openapi::ErrorBody),
        (status = 403, description = "A read token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such task", body = super::openapi::ErrorBody),
        (status = 422, description = "The directory refuses the change", body = super::openapi::ErrorBody),
    )
)]
pub async fn complete(
    State(api): State<Arc<Api>>,
    Checked(Path(id)): Checked<Path<i64>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<axum::Json<Json>, ApiError> {
    let who = api.tokens.authorize(&headers, TokenScope::Operate)?;
    let actor = format!("api token {who}");
    // No body, or `null`: no decision.
    let body: CompleteBody = match body.is_empty() {
        true => CompleteBody { decision: None },
        false => {
            parse_body::<Option<CompleteBody>>(&body)?.unwrap_or(CompleteBody { decision: None })
        }
    };
    let task = api
        .engine
        .store()
        .write(Keep::IfOk, move |tx| {
            tx.directory(&actor)
                .complete_task(id, body.decision.as_deref())
        })
        .await
        .map_err(directory_error)?;
    Ok(axum::Json(json!(task)))
}

fn directory_error(e: DirError) -> ApiError {
    match e {
        DirError::NotFound { .. } => ApiError::not_found(e.to_string()),
        DirError::Invalid(message) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
        other => ApiError::internal(&other.into()),
    }
}
