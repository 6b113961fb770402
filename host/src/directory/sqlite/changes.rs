//! The directory's changes on SQLite, each with its event in the same
//! transaction.

use rusqlite::{OptionalExtension, params};
use serde_json::{Value as Json, json};

use super::Directory;
use crate::directory::{
    App, Campaign, DELETED, DirError, DirectoryChanges, DirectoryReads, Entitlement, Result,
    ReviewTemplate, Task, USER_STATUSES, Upsert, User,
};

impl DirectoryChanges for Directory<'_> {
    fn record(&self, kind: &str, subject: Option<&str>, payload: Json) -> Result<()> {
        self.exec(
            "INSERT INTO events (kind, subject_id, payload, actor, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, subject, payload.to_string(), self.actor, self.now()],
        )?;
        Ok(())
    }

    fn put_user(&self, user: &User) -> Result<Upsert> {
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

    fn set_delegate(&self, user: &str, delegate: Option<&str>) -> Result<(Option<String>, bool)> {
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

    fn put_app(&self, app: &App) -> Result<Upsert> {
        let upsert = Upsert::of(self.app(&app.id)?.as_ref(), app);
        if upsert == Upsert::Unchanged {
            return Ok(upsert);
        }
        self.exec(
            "INSERT INTO apps (id, name, owner_id, connector, description) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = ?2, owner_id = ?3, connector = ?4, description = ?5",
            params![app.id, app.name, app.owner_id, app.connector, app.description],
        )?;
        Ok(upsert)
    }

    fn put_entitlement(&self, e: &Entitlement) -> Result<Upsert> {
        if self.app(&e.app_id)?.is_none() {
            return Err(DirError::not_found("app", &e.app_id));
        }
        let upsert = Upsert::of(self.entitlement(&e.id)?.as_ref(), e);
        if upsert == Upsert::Unchanged {
            return Ok(upsert);
        }
        self.exec(
            "INSERT INTO entitlements (id, app_id, slug, name, resource_type, resource, description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET app_id = ?2, slug = ?3, name = ?4, resource_type = ?5, resource = ?6, description = ?7",
            params![e.id, e.app_id, e.slug, e.name, e.resource_type, e.resource, e.description],
        )?;
        Ok(upsert)
    }

    fn remove_entitlement(&self, id: &str) -> Result<bool> {
        let e = self.require_entitlement(id)?;
        let named: bool = self.row(
            "SELECT EXISTS (SELECT 1 FROM grants WHERE entitlement_id = ?1)
                 OR EXISTS (SELECT 1 FROM tasks WHERE entitlement_id = ?1)
                 OR EXISTS (SELECT 1 FROM access_profile_entitlements WHERE entitlement_id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        if named {
            return Ok(false);
        }
        self.exec("DELETE FROM entitlements WHERE id = ?1", [id])?;
        self.record(
            "entitlement_removed",
            None,
            json!({"entitlement": e, "app_id": e.app_id}),
        )?;
        Ok(true)
    }

    fn add_grant(&self, user: &str, entitlement: &str, source: &str) -> Result<bool> {
        let e = self.require_entitlement(entitlement)?;
        self.require_user(user)?;
        let added = self.exec(
            "INSERT INTO grants (user_id, entitlement_id, source, granted_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![user, entitlement, source, self.now()],
        )? == 1;
        if added {
            self.record(
                "grant_added",
                Some(user),
                json!({"user_id": user, "entitlement": e, "app_id": e.app_id, "source": source}),
            )?;
        }
        Ok(added)
    }

    fn remove_grant(&self, user: &str, entitlement: &str) -> Result<bool> {
        let removed = self.exec(
            "DELETE FROM grants WHERE user_id = ?1 AND entitlement_id = ?2",
            [user, entitlement],
        )? == 1;
        if removed {
            let e = self.require_entitlement(entitlement)?;
            self.record(
                "grant_removed",
                Some(user),
                json!({"user_id": user, "entitlement": e, "app_id": e.app_id}),
            )?;
        }
        Ok(removed)
    }

    fn put_account(&self, account: &Json) -> Result<Upsert> {
        let field = |k: &str| account.get(k).and_then(Json::as_str).map(str::to_string);
        let (Some(id), Some(app)) = (field("id"), field("app")) else {
            return Err(DirError::Invalid("an account needs `id` and `app`".into()));
        };
        if self.app(&app)?.is_none() {
            return Err(DirError::not_found("app", &app));
        }
        let user = field("user");
        if let Some(u) = &user {
            self.require_user(u)?;
        }
        let attributes = account.get("attributes").cloned().unwrap_or(json!({}));
        let row = (
            app,
            user,
            field("username"),
            field("email"),
            field("status").unwrap_or_else(|| "active".into()),
            attributes.to_string(),
        );
        let old = self.row(
                "SELECT app_id, user_id, username, email, status, attributes FROM accounts WHERE app_id = ?1 AND id = ?2",
                [&row.0, &id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let upsert = Upsert::of(old.as_ref(), &row);
        if upsert == Upsert::Unchanged {
            return Ok(upsert);
        }
        let (app, user, username, email, status, attributes) = &row;
        self.exec(
            "INSERT INTO accounts (id, app_id, user_id, username, email, status, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (app_id, id) DO UPDATE SET user_id = ?3, username = ?4, email = ?5, status = ?6, attributes = ?7",
            params![id, app, user, username, email, status, attributes],
        )?;
        let account_json = |(app, user, username, email, status, _): &(
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            String,
        )| {
            json!({"id": id, "app": app, "user": user, "username": username, "email": email, "status": status})
        };
        let mut payload =
            json!({"user_id": user, "app_id": app, "new_account": account_json(&row)});
        let kind = match &old {
            None => "account_created",
            Some(old) => {
                payload["old_account"] = account_json(old);
                "account_updated"
            }
        };
        self.record(kind, user.as_deref(), payload)?;
        Ok(upsert)
    }

    fn put_access_profile(
        &self,
        id: &str,
        name: &str,
        description: Option<&str>,
        entitlements: &[String],
    ) -> Result<Upsert> {
        let old: Option<(String, Option<String>)> = self
            .row(
                "SELECT name, description FROM access_profiles WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let mut wanted = entitlements.to_vec();
        wanted.sort();
        let old = match old {
            Some(row) => Some((row, self.profile_entitlements(id)?)),
            None => None,
        };
        let new = ((name.to_string(), description.map(str::to_string)), wanted);
        let upsert = Upsert::of(old.as_ref(), &new);
        if upsert == Upsert::Unchanged {
            return Ok(upsert);
        }
        self.exec(
            "INSERT INTO access_profiles (id, name, description) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET name = ?2, description = ?3",
            params![id, name, description],
        )?;
        self.exec(
            "DELETE FROM access_profile_entitlements WHERE profile_id = ?1",
            [id],
        )?;
        for e in entitlements {
            self.require_entitlement(e)?;
            self.exec(
                "INSERT INTO access_profile_entitlements (profile_id, entitlement_id) VALUES (?1, ?2)",
                [id, e],
            )?;
        }
        Ok(upsert)
    }

    fn enroll(&self, profile: &str, user: &str) -> Result<bool> {
        if self.access_profile(profile)?.is_none() {
            return Err(DirError::not_found("access profile", profile));
        }
        self.require_user(user)?;
        let added = self.exec(
            "INSERT INTO enrollments (profile_id, user_id, enrolled_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![profile, user, self.now()],
        )? == 1;
        if added {
            self.record(
                "user_enrolled",
                Some(user),
                json!({"user_id": user, "profile_id": profile}),
            )?;
        }
        Ok(added)
    }

    fn unenroll(&self, profile: &str, user: &str) -> Result<bool> {
        let removed = self.exec(
            "DELETE FROM enrollments WHERE profile_id = ?1 AND user_id = ?2",
            [profile, user],
        )? == 1;
        if removed {
            self.record(
                "user_unenrolled",
                Some(user),
                json!({"user_id": user, "profile_id": profile}),
            )?;
        }
        Ok(removed)
    }

    fn note_task(&self, task: i64, action: &str, detail: serde_json::Value) -> Result<()> {
        self.exec(
            "INSERT INTO task_history (task_id, at, action, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![task, self.now(), action, self.actor, detail.to_string()],
        )?;
        Ok(())
    }

    fn open_task(
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

    fn reassign_task(&self, id: i64, assignee: &str) -> Result<()> {
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

    fn complete_task(&self, id: i64, decision: Option<&str>) -> Result<Task> {
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

    fn cancel_task(&self, id: i64) -> Result<Task> {
        let task = self.require_open(id)?;
        self.finish_task(&task, "cancelled", None)
    }

    fn put_review_template(&self, t: &ReviewTemplate) -> Result<Upsert> {
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

    fn create_campaign(&self, template: &str, name: &str) -> Result<Campaign> {
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
}
