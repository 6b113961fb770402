//! The API's errors: `{"error": {"code": "...", "message": "..."}}` with a
//! stable code and the HTTP status that goes with it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::RunError;

/// An answer that is not a success.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, for scripts: `unauthorized`, `forbidden`, `not_found`,
    /// `bad_json`, `bad_input`, `unknown_subject`, `condition_false`,
    /// `condition_error`, `too_large`,
    /// `bad_signature`, `stale_timestamp`, `replayed`, `conflict`,
    /// `invalid` (a change the directory refuses), `internal`.
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_input(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_input", message)
    }

    /// A failure of keystep itself (the store): said without detail that
    /// could carry data, logged in full by the caller.
    pub fn internal(e: &anyhow::Error) -> ApiError {
        tracing::error!("api: internal error: {e:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "keystep could not answer; see its log",
        )
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        match e {
            RunError::NoSuchRun(_) => ApiError::not_found(e.to_string()),
            RunError::Ended { .. } | RunError::NotFailed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            RunError::BadInput(message) => ApiError::bad_input(message),
            RunError::UnknownSubject(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_subject", message)
            }
            RunError::Store(e) => ApiError::internal(&e.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Parses a request body as JSON into `T`: a body that is not JSON says
/// where (`bad_json`), one of another shape says what (`bad_input`).
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_value(parse_json(body)?)
        .map_err(|e| ApiError::bad_input(format!("the body: {e}")))
}

/// Parses a request body as JSON; a body that is not says where.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is not JSON: {e}"),
        )
    })
}
