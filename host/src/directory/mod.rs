//! The directory: the identity data steps read and change (design section 5).
//!
//! [`Directory`] wraps a connection, usually inside the transaction of one
//! step, and is the only way anything changes identity data. Every change
//! appends an event ([`Directory::record`]) in the same transaction: the event
//! log is both the audit log and the outbox the trigger matcher reads.

mod access;
pub mod import;
mod tasks;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::time::ts;

pub use access::{App, Entitlement, Grant, Selector};
pub use tasks::{Campaign, ReviewTemplate, TASK_KINDS, Task, TaskFilter};

/// Directory errors: something named does not exist, a change is not
/// allowed, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("unknown {what} `{id}`")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{0}")]
    Unavailable(#[from] crate::store::StoreError),
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
    fn from_row(r: &Row) -> rusqlite::Result<User> {
        Ok(User {
            id: r.get("id")?,
            email: r.get("email")?,
            display_name: r.get("display_name")?,
            username: r.get("username")?,
            status: r.get("status")?,
            manager_id: r.get("manager_id")?,
            department: r.get("department")?,
            title: r.get("title")?,
            attributes: serde_json::from_str(&r.get::<_, String>("attributes")?)
                .unwrap_or(Json::Null),
        })
    }

    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }
}

/// The directory over one connection, acting as `actor` (recorded on every
/// event: `run 12/revoke/1`, `import`, `cli`).
pub struct Directory<'c> {
    conn: &'c Connection,
    actor: String,
}

impl<'c> Directory<'c> {
    pub fn new(conn: &'c Connection, actor: String) -> Directory<'c> {
        Directory { conn, actor }
    }

    /// Runs one statement, prepared once per connection.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    /// Reads one row with a statement prepared once per connection.
    fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    fn now(&self) -> String {
        ts(chrono::Utc::now())
    }

    /// Appends an event to the log.
    pub fn record(&self, kind: &str, subject: Option<&str>, payload: Json) -> Result<()> {
        self.exec(
            "INSERT INTO events (kind, subject_id, payload, actor, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, subject, payload.to_string(), self.actor, self.now()],
        )?;
        Ok(())
    }

    pub fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self
            .row("SELECT * FROM users WHERE id = ?1", [id], User::from_row)
            .optional()?)
    }

    pub fn require_user(&self, id: &str) -> Result<User> {
        self.user(id)?
            .ok_or_else(|| DirError::not_found("user", id))
    }

    /// Whether the directory has no users yet (nothing was imported).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.row("SELECT NOT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM users ORDER BY id")?;
        let rows = stmt.query_map([], User::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Creates or replaces a user; records `user_created`, or `user_updated`
    /// with the old and new user when something changed.
    pub fn put_user(&self, user: &User) -> Result<Upsert> {
        if user.id.is_empty() || user.display_name.is_empty() {
            return Err(DirError::Invalid(
                "a user needs an id and a display_name".into(),
            ));
        }
        if !USER_STATUSES.contains(&user.status.as_str()) && user.status != DELETED {
            return Err(DirError::Invalid(format!(
                "user `{}`: status `{}` is not one of {}",
                user.id,
                user.status,
                USER_STATUSES.join(", ") + ", " + DELETED
            )));
        }
        let old = self.user(&user.id)?;
        let upsert = Upsert::of(old.as_ref(), user);
        if upsert == Upsert::Unchanged {
            return Ok(upsert);
        }
        self.exec(
            "INSERT INTO users (id, email, display_name, username, status, manager_id, department, title, attributes, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO UPDATE SET email = ?2, display_name = ?3, username = ?4, status = ?5,
                manager_id = ?6, department = ?7, title = ?8, attributes = ?9, updated_at = ?10",
            params![
                user.id, user.email, user.display_name, user.username, user.status, user.manager_id,
                user.department, user.title, user.attributes.to_string(), self.now()
            ],
        )?;
        match old {
            None => self.record(
                "user_created",
                Some(&user.id),
                json!({"user_id": user.id, "user": user}),
            )?,
            Some(old) => self.record(
                "user_updated",
                Some(&user.id),
                json!({"user_id": user.id, "old_user": old, "new_user": user}),
            )?,
        }
        Ok(upsert)
    }

    /// Sets a user's status; returns the status it had.
    pub fn set_user_status(&self, id: &str, status: &str) -> Result<String> {
        let mut user = self.require_user(id)?;
        let old = std::mem::replace(&mut user.status, status.to_string());
        self.put_user(&user)?;
        Ok(old)
    }

    /// The users who have delegated to `id`.
    pub fn delegators_of(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id FROM delegates WHERE delegate_id = ?1 ORDER BY user_id",
        )?;
        let rows = stmt.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The user `id` has delegated to, if any.
    pub fn delegate_of(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .row(
                "SELECT delegate_id FROM delegates WHERE user_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Points `user`'s delegation at `delegate`, or removes it; returns the
    /// delegate it had, and whether that changed.
    pub fn set_delegate(
        &self,
        user: &str,
        delegate: Option<&str>,
    ) -> Result<(Option<String>, bool)> {
        let old = self.delegate_of(user)?;
        if old.as_deref() == delegate {
            return Ok((old, false));
        }
        match delegate {
            Some(d) => {
                self.require_user(d)?;
                self.exec(
                    "INSERT INTO delegates (user_id, delegate_id) VALUES (?1, ?2)
                     ON CONFLICT (user_id) DO UPDATE SET delegate_id = ?2",
                    params![user, d],
                )?
            }
            None => self
                .conn
                .execute("DELETE FROM delegates WHERE user_id = ?1", [user])?,
        };
        self.record(
            "delegate_changed",
            Some(user),
            json!({"user_id": user, "old_delegate": old, "new_delegate": delegate}),
        )?;
        Ok((old, true))
    }

    /// Counts rows of each directory table, for `directory show`.
    pub fn counts(&self) -> Result<Vec<(&'static str, i64)>> {
        let tables = [
            ("users", "users"),
            ("apps", "apps"),
            ("entitlements", "entitlements"),
            ("grants", "grants"),
            ("accounts", "accounts"),
            ("access profiles", "access_profiles"),
            ("enrollments", "enrollments"),
            ("delegates", "delegates"),
            ("review templates", "review_templates"),
            ("campaigns", "campaigns"),
            ("open tasks", "tasks WHERE state = 'open'"),
            ("events", "events"),
        ];
        tables
            .iter()
            .map(|(label, from)| {
                let n: i64 = self.row(&format!("SELECT count(*) FROM {from}"), [], |r| r.get(0))?;
                Ok((*label, n))
            })
            .collect()
    }

    /// Events from the log, oldest first, optionally about one subject.
    pub fn events(&self, subject: Option<&str>) -> Result<Vec<Json>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, kind, subject_id, payload, actor, created_at FROM events
             WHERE ?1 IS NULL OR subject_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([subject], |r| {
            Ok(json!({
                "seq": r.get::<_, i64>(0)?,
                "kind": r.get::<_, String>(1)?,
                "subject_id": r.get::<_, Option<String>>(2)?,
                "payload": serde_json::from_str::<Json>(&r.get::<_, String>(3)?).unwrap_or(Json::Null),
                "actor": r.get::<_, String>(4)?,
                "at": r.get::<_, String>(5)?,
            }))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
