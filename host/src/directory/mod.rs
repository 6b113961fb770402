//! The directory: the identity data steps read and change (design section 5).
//!
//! Everything reads it through [`DirectoryReads`] and changes it through
//! [`DirectoryChanges`], the only way anything changes identity data; every
//! change appends an event ([`DirectoryChanges::record`]) in the same
//! transaction: the event log is both the audit log and the outbox the
//! trigger matcher reads. [`Directory`] is the SQLite implementation, over
//! one connection; [`ReadOnly`] is a directory that reads and refuses every
//! change (a step's plan phase).

mod access;
pub mod import;
mod read_only;
mod sqlite;
mod tasks;
mod traits;

use serde::Serialize;
use serde_json::Value as Json;

pub use access::{Account, App, Entitlement, Grant, Selector};
pub use read_only::ReadOnly;
pub use sqlite::Directory;
pub use tasks::{Campaign, ReviewTemplate, TASK_KINDS, Task, TaskFilter};
pub use traits::{DirectoryChanges, DirectoryReads};

/// Directory errors: something named does not exist, a change is not
/// allowed, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("unknown {what} `{id}`")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    /// A change asked of a directory that only reads ([`ReadOnly`]).
    #[error("the plan phase reads; changes are made when the step settles")]
    ReadOnly,
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{0}")]
    Unavailable(#[from] crate::error::StoreError),
}

impl DirError {
    pub fn not_found(what: &'static str, id: &str) -> DirError {
        DirError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

/// Only a store that failed may do better on another try.
impl From<DirError> for crate::error::Error {
    fn from(e: DirError) -> crate::error::Error {
        let transient = match &e {
            DirError::Store(e) => crate::error::is_transient(e),
            DirError::Unavailable(e) => e.transient,
            _ => false,
        };
        crate::error::Error::new(e.to_string(), transient)
    }
}

pub type Result<T> = std::result::Result<T, DirError>;

/// A person in the directory.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub display_name: String,
    pub username: Option<String>,
    pub status: String,
    pub manager_id: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub attributes: Json,
}

/// The statuses a step or a file may give a user.
pub const USER_STATUSES: &[&str] = &["active", "disabled", "inactive"];

/// The status of a user a snapshot import no longer lists: the row stays,
/// for history and for automations (on `user_updated`) to act on.
pub const DELETED: &str = "deleted";

/// What a create-or-update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Created,
    Updated,
    Unchanged,
}

impl Upsert {
    fn of<T: PartialEq>(old: Option<&T>, new: &T) -> Upsert {
        match old {
            None => Upsert::Created,
            Some(old) if old == new => Upsert::Unchanged,
            Some(_) => Upsert::Updated,
        }
    }
}

impl User {
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }
}

/// One entry of the event log: the audit log, and the outbox the trigger
/// matcher reads from a position (`seq`) on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: i64,
    pub kind: String,
    pub subject_id: Option<String>,
    pub payload: Json,
    pub actor: String,
    pub at: String,
}
