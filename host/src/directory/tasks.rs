//! Tasks (grant, revoke, review), review templates and campaigns.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{DirError, Directory, Result, Upsert};

/// A unit of work for a person (or, later, a connector): grant or revoke an
/// entitlement, or review a grant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub subject_id: String,
    pub assignee_id: Option<String>,
    pub entitlement_id: String,
    pub campaign_id: Option<i64>,
    pub decision: Option<String>,
    pub origin: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub const TASK_KINDS: &[&str] = &["grant", "revoke", "review"];

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

/// Which tasks to list. Empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub assignee: Option<String>,
    pub subject: Option<String>,
    pub kinds: Vec<String>,
    pub states: Vec<String>,
}

/// How a campaign picks each review task's reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewTemplate {
    pub id: String,
    pub name: String,
    /// `manager`, `app_owner`, or `user:<id>`.
    pub reviewer: String,
    /// Who reviews when the policy finds nobody (a user id).
    pub fallback_reviewer: Option<String>,
    /// The apps in scope; `None` means every app.
    pub apps: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub id: i64,
    pub template_id: String,
    pub name: String,
    pub state: String,
    pub created_at: String,
    pub origin: Option<String>,
}

impl Directory<'_> {
    /// Adds an entry to a task's history (for example a connector's answer).
    pub fn note_task(&self, task: i64, action: &str, detail: serde_json::Value) -> Result<()> {
        self.exec(
            "INSERT INTO task_history (task_id, at, action, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![task, self.now(), action, self.actor, detail.to_string()],
        )?;
        Ok(())
    }

    /// Opens a task; records `task_created`.
    pub fn open_task(
        &self,
        kind: &str,
        subject: &str,
        entitlement: &str,
        assignee: Option<&str>,
        campaign: Option<i64>,
    ) -> Result<Task> {
        let now = self.now();
        self.exec(
            "INSERT INTO tasks (kind, subject_id, assignee_id, entitlement_id, campaign_id, origin, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![kind, subject, assignee, entitlement, campaign, self.actor, now],
        )?;
        let task = self.require_task(self.conn.last_insert_rowid())?;
        self.note_task(task.id, "created", json!({"assignee": assignee}))?;
        self.record("task_created", Some(subject), json!({"task": task}))?;
        Ok(task)
    }

    pub fn task(&self, id: i64) -> Result<Option<Task>> {
        Ok(self
            .row("SELECT * FROM tasks WHERE id = ?1", [id], task_from_row)
            .optional()?)
    }

    pub fn require_task(&self, id: i64) -> Result<Task> {
        self.task(id)?
            .ok_or_else(|| DirError::not_found("task", &id.to_string()))
    }

    /// The open task of `kind` for `subject` × `entitlement`, if any.
    pub fn open_task_for(
        &self,
        kind: &str,
        subject: &str,
        entitlement: &str,
    ) -> Result<Option<Task>> {
        Ok(self.row(
                "SELECT * FROM tasks WHERE kind = ?1 AND subject_id = ?2 AND entitlement_id = ?3 AND state = 'open'",
                [kind, subject, entitlement],
                task_from_row,
            )
            .optional()?)
    }

    pub fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        // Only the conditions given, so SQLite can use the task indexes.
        let mut clauses = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for (column, value) in [
            ("assignee_id", &filter.assignee),
            ("subject_id", &filter.subject),
        ] {
            if let Some(v) = value {
                values.push(v.clone());
                clauses.push(format!("{column} = ?{}", values.len()));
            }
        }
        for (column, list) in [("kind", &filter.kinds), ("state", &filter.states)] {
            if !list.is_empty() {
                values.push(serde_json::to_string(list).unwrap_or_default());
                clauses.push(format!(
                    "{column} IN (SELECT value FROM json_each(?{}))",
                    values.len()
                ));
            }
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT * FROM tasks {filter_sql} ORDER BY id"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), task_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

    /// Hands an open task to `assignee`; records `task_reassigned`.
    pub fn reassign_task(&self, id: i64, assignee: &str) -> Result<()> {
        let task = self.require_open(id)?;
        self.require_user(assignee)?;
        self.exec(
            "UPDATE tasks SET assignee_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, assignee, self.now()],
        )?;
        self.note_task(
            id,
            "reassigned",
            json!({"from": task.assignee_id, "to": assignee}),
        )?;
        self.record(
            "task_reassigned",
            Some(&task.subject_id),
            json!({"task_id": id, "from": task.assignee_id, "to": assignee}),
        )
    }

    /// Completes an open task and carries it out: a grant task adds the
    /// grant, a revoke task removes it, a review decided `revoke` opens a
    /// revoke task. `decision` applies to reviews (`keep` or `revoke`).
    pub fn complete_task(&self, id: i64, decision: Option<&str>) -> Result<Task> {
        let task = self.require_open(id)?;
        let decision = match (task.kind.as_str(), decision) {
            ("review", None | Some("keep")) => Some("keep"),
            ("review", Some("revoke")) => Some("revoke"),
            ("review", Some(other)) => {
                return Err(DirError::Invalid(format!(
                    "a review decision is `keep` or `revoke`, not `{other}`"
                )));
            }
            (_, Some(d)) => {
                return Err(DirError::Invalid(format!(
                    "a {} task takes no decision (`{d}`)",
                    task.kind
                )));
            }
            (_, None) => None,
        };
        match (task.kind.as_str(), decision) {
            ("grant", _) => {
                self.add_grant(&task.subject_id, &task.entitlement_id, "task")?;
            }
            ("revoke", _) => {
                self.remove_grant(&task.subject_id, &task.entitlement_id)?;
            }
            (_, Some("revoke"))
                if self
                    .open_task_for("revoke", &task.subject_id, &task.entitlement_id)?
                    .is_none() =>
            {
                let owner = self.app_owner_of(&task.entitlement_id)?;
                self.open_task(
                    "revoke",
                    &task.subject_id,
                    &task.entitlement_id,
                    owner.as_deref(),
                    None,
                )?;
            }
            _ => {}
        }
        self.finish_task(&task, "completed", decision)
    }

    /// Cancels an open task; nothing is carried out.
    pub fn cancel_task(&self, id: i64) -> Result<Task> {
        let task = self.require_open(id)?;
        self.finish_task(&task, "cancelled", None)
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

    /// The owner of the app an entitlement belongs to.
    pub fn app_owner_of(&self, entitlement: &str) -> Result<Option<String>> {
        let e = self.require_entitlement(entitlement)?;
        Ok(self.app(&e.app_id)?.and_then(|a| a.owner_id))
    }

    pub fn review_template(&self, id: &str) -> Result<Option<ReviewTemplate>> {
        Ok(self.row(
                "SELECT id, name, reviewer, fallback_reviewer, apps, description FROM review_templates WHERE id = ?1",
                [id],
                |r| {
                    Ok(ReviewTemplate {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        reviewer: r.get(2)?,
                        fallback_reviewer: r.get(3)?,
                        apps: r.get::<_, Option<String>>(4)?.and_then(|s| serde_json::from_str(&s).ok()),
                        description: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn put_review_template(&self, t: &ReviewTemplate) -> Result<Upsert> {
        let valid = matches!(t.reviewer.as_str(), "manager" | "app_owner")
            || t.reviewer.starts_with("user:");
        if !valid {
            return Err(DirError::Invalid(format!(
                "review template `{}`: reviewer `{}` must be manager, app_owner or user:<id>",
                t.id, t.reviewer
            )));
        }
        let upsert = Upsert::of(self.review_template(&t.id)?.as_ref(), t);
        if upsert == Upsert::Unchanged {
            return Ok(upsert);
        }
        self.exec(
            "INSERT INTO review_templates (id, name, reviewer, fallback_reviewer, apps, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET name = ?2, reviewer = ?3, fallback_reviewer = ?4, apps = ?5, description = ?6",
            params![t.id, t.name, t.reviewer, t.fallback_reviewer, t.apps.as_ref().map(|a| json!(a).to_string()), t.description],
        )?;
        Ok(upsert)
    }

    /// Opens a campaign; records `campaign_created`.
    pub fn create_campaign(&self, template: &str, name: &str) -> Result<Campaign> {
        self.exec(
            "INSERT INTO campaigns (template_id, name, created_at, origin) VALUES (?1, ?2, ?3, ?4)",
            params![template, name, self.now(), self.actor],
        )?;
        let id = self.conn.last_insert_rowid();
        self.record(
            "campaign_created",
            None,
            json!({"campaign_id": id, "template_id": template, "name": name}),
        )?;
        Ok(self
            .campaigns()?
            .into_iter()
            .find(|c| c.id == id)
            .expect("campaign just inserted"))
    }

    pub fn campaigns(&self) -> Result<Vec<Campaign>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, template_id, name, state, created_at, origin FROM campaigns ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Campaign {
                id: r.get(0)?,
                template_id: r.get(1)?,
                name: r.get(2)?,
                state: r.get(3)?,
                created_at: r.get(4)?,
                origin: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
