//! The SQLite implementation of the directory's traits: every SQL
//! statement of the identity data.

mod changes;
mod reads;

use rusqlite::{Connection, Row, params};
use serde_json::{Value as Json, json};

use super::{App, DirError, DirectoryChanges, DirectoryReads, Entitlement, Result, Task, User};
use crate::time::ts;

/// The directory over one SQLite connection, acting as `actor` (recorded on
/// every event: `run 12/revoke/1`, `import`, `cli`). Usually the connection
/// is inside the transaction of one step.
pub struct Directory<'c> {
    /// Open to `import`, whose bulk reads are SQLite's own.
    pub(super) conn: &'c Connection,
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

    fn require_open(&self, id: i64) -> Result<Task> {
        let task = self.require_task(id)?;
        if task.state != "open" {
            return Err(DirError::Invalid(format!(
                "task {id} is already {}",
                task.state
            )));
        }
        Ok(task)
    }

    fn finish_task(&self, task: &Task, state: &str, decision: Option<&str>) -> Result<Task> {
        self.exec(
            "UPDATE tasks SET state = ?2, decision = ?3, updated_at = ?4 WHERE id = ?1",
            params![task.id, state, decision, self.now()],
        )?;
        self.note_task(task.id, state, json!({"decision": decision}))?;
        self.record(
            &format!("task_{state}"),
            Some(&task.subject_id),
            json!({"task_id": task.id, "kind": task.kind, "decision": decision}),
        )?;
        self.require_task(task.id)
    }
}

fn user_from_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get("id")?,
        email: r.get("email")?,
        display_name: r.get("display_name")?,
        username: r.get("username")?,
        status: r.get("status")?,
        manager_id: r.get("manager_id")?,
        department: r.get("department")?,
        title: r.get("title")?,
        attributes: serde_json::from_str(&r.get::<_, String>("attributes")?).unwrap_or(Json::Null),
    })
}

fn entitlement_from_row(r: &Row) -> rusqlite::Result<Entitlement> {
    Ok(Entitlement {
        id: r.get("id")?,
        app_id: r.get("app_id")?,
        slug: r.get("slug")?,
        name: r.get("name")?,
        resource_type: r.get("resource_type")?,
        resource: r.get("resource")?,
        description: r.get("description")?,
    })
}

fn app_from_row(r: &rusqlite::Row) -> rusqlite::Result<App> {
    Ok(App {
        id: r.get(0)?,
        name: r.get(1)?,
        owner_id: r.get(2)?,
        connector: r.get(3)?,
        description: r.get(4)?,
    })
}

fn task_from_row(r: &Row) -> rusqlite::Result<Task> {
    Ok(Task {
        id: r.get("id")?,
        kind: r.get("kind")?,
        state: r.get("state")?,
        subject_id: r.get("subject_id")?,
        assignee_id: r.get("assignee_id")?,
        entitlement_id: r.get("entitlement_id")?,
        campaign_id: r.get("campaign_id")?,
        decision: r.get("decision")?,
        origin: r.get("origin")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}
