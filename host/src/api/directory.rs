//! The directory through the API: a user with their grants, tasks listed
//! by assignee, subject, kind and state, and a task completed (each change
//! with its event, the token's holder as its actor).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::errors::{ApiError, parse_json};
use super::{Api, Body, Checked};
use crate::config::TokenScope;
use crate::directory::{DirError, TaskFilter};
use crate::store::Keep;

/// `GET /v1/users/{id}`: the user and their grants.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    assignee: Option<String>,
    subject: Option<String>,
    kind: Option<String>,
    /// `open` (the default), `completed`, `cancelled` or `all`.
    state: Option<String>,
}

/// `GET /v1/tasks`.
pub async fn tasks(
    State(api): State<Arc<Api>>,
    Checked(Query(query)): Checked<Query<TaskQuery>>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    api.tokens.authorize(&headers, TokenScope::Read)?;
    let state = query.state.unwrap_or_else(|| "open".into());
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// For a review task: `keep` or `revoke`.
    decision: Option<String>,
}

/// `POST /v1/tasks/{id}/complete`.
pub async fn complete(
    State(api): State<Arc<Api>>,
    Checked(Path(id)): Checked<Path<i64>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<axum::Json<Json>, ApiError> {
    let who = api.tokens.authorize(&headers, TokenScope::Operate)?;
    let actor = format!("api token {who}");
    let body: CompleteBody = if body.is_empty() {
        CompleteBody { decision: None }
    } else {
        serde_json::from_value(parse_json(&body)?)
            .map_err(|e| ApiError::bad_input(format!("the body: {e}")))?
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
