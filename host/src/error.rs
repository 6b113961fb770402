//! The one error type of work that touches the outside world or the store:
//! a message for people, whether trying again may help, and a short code
//! where the source gives one (a plugin's own error code, or the host's
//! `trap`, `limit`, `not-found`, `load`).
//!
//! Steps, channels (mail, Slack, webhooks), plugins and the directory all
//! fail with it, so the engine decides retries from one field.

use std::fmt;

/// Whether a failure may pass when the same work is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A busy receiver, a timeout, a full disk: another attempt may succeed.
    Retryable,
    /// The same input will always fail the same way.
    Final,
}

/// A failure: what went wrong, in words that name no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub message: String,
    pub retry: Retry,
    /// A machine-readable reason, when the source has one.
    pub code: Option<String>,
}

impl Error {
    /// A failure that the same input will always produce.
    pub fn fatal(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            retry: Retry::Final,
            code: None,
        }
    }

    /// A failure that may pass on another attempt.
    pub fn transient(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            retry: Retry::Retryable,
            code: None,
        }
    }

    /// `message` with `retryable` saying which of the two it is.
    pub fn new(message: impl Into<String>, retryable: bool) -> Error {
        if retryable {
            Error::transient(message)
        } else {
            Error::fatal(message)
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.retry == Retry::Retryable
    }

    /// The same failure with `code` as its reason.
    pub fn with_code(mut self, code: impl Into<String>) -> Error {
        self.code = Some(code.into());
        self
    }

    /// The same failure, retryable or not as `retryable` says.
    pub fn retryable(mut self, retryable: bool) -> Error {
        self.retry = if retryable {
            Retry::Retryable
        } else {
            Retry::Final
        };
        self
    }

    /// The same failure with `context` before its message.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a SQLite error may pass when tried again: a busy or locked
/// database, a full disk (`SQLITE_FULL`, which SQLite also returns for
/// ENOSPC) or a failed read or write. SQLite rolls the transaction back in
/// each case, so nothing is half written.
pub fn is_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure))
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::new(format!("store: {e}"), is_transient(&e))
    }
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store {path}: {message}")]
pub struct StoreError {
    pub path: String,
    pub message: String,
    /// Whether it may pass: a busy or locked database, a full disk, a
    /// failed read or write. SQLite rolls the transaction back in each
    /// case, so nothing is half written.
    pub transient: bool,
}

impl StoreError {
    pub(crate) fn new(
        path: &std::path::Path,
        message: impl Into<String>,
        transient: bool,
    ) -> StoreError {
        StoreError {
            path: path.display().to_string(),
            message: message.into(),
            transient,
        }
    }

    pub(crate) fn sqlite(path: &std::path::Path, e: &rusqlite::Error) -> StoreError {
        StoreError::new(path, e.to_string(), is_transient(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        Error::new(e.to_string(), e.transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_follows_the_constructor() {
        assert!(Error::transient("busy").is_retryable());
        assert!(!Error::fatal("no such user").is_retryable());
        assert!(Error::new("x", true).is_retryable());
        let e = Error::fatal("gone")
            .with_code("not-found")
            .context("plugin `p`");
        assert_eq!(e.to_string(), "plugin `p`: gone");
        assert_eq!(e.code.as_deref(), Some("not-found"));
        assert!(e.retryable(true).is_retryable());
    }
}
