//! The directory's reads on SQLite.

use rusqlite::{OptionalExtension, params};

use super::{Directory, app_from_row, entitlement_from_row, task_from_row, user_from_row};
use crate::directory::{
    Account, App, Campaign, DirectoryReads, Entitlement, Event, Grant, Result, ReviewTemplate,
    Task, TaskFilter, User,
};

impl DirectoryReads for Directory<'_> {
    fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self
            .row("SELECT * FROM users WHERE id = ?1", [id], user_from_row)
            .optional()?)
    }

    fn is_empty(&self) -> Result<bool> {
        Ok(self.row("SELECT NOT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    }

    fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM users ORDER BY id")?;
        let rows = stmt.query_map([], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        Ok(self
            .row(
                "SELECT * FROM users WHERE lower(email) = lower(?1)",
                [email],
                user_from_row,
            )
            .optional()?)
    }

    fn reports_of(&self, manager: &str) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM users WHERE manager_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([manager], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn holders_of(&self, entitlement: &str) -> Result<Vec<User>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.* FROM grants g JOIN users u ON u.id = g.user_id
             WHERE g.entitlement_id = ?1 ORDER BY u.id",
        )?;
        let rows = stmt.query_map([entitlement], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn delegators_of(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id FROM delegates WHERE delegate_id = ?1 ORDER BY user_id",
        )?;
        let rows = stmt.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn delegate_of(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .row(
                "SELECT delegate_id FROM delegates WHERE user_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn counts(&self) -> Result<Vec<(&'static str, i64)>> {
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

    fn events(&self, subject: Option<&str>) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, kind, subject_id, payload, actor, created_at FROM events
             WHERE ?1 IS NULL OR subject_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([subject], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, kind, subject_id, payload, actor, created_at FROM events
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![after, limit], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn app(&self, id: &str) -> Result<Option<App>> {
        Ok(self
            .row(
                "SELECT id, name, owner_id, connector, description FROM apps WHERE id = ?1",
                [id],
                app_from_row,
            )
            .optional()?)
    }

    fn app_with_connector(&self, connector: &str) -> Result<Option<App>> {
        Ok(self
            .row(
                "SELECT id, name, owner_id, connector, description FROM apps WHERE connector = ?1 ORDER BY id LIMIT 1",
                [connector],
                app_from_row,
            )
            .optional()?)
    }

    fn account_of(&self, user: &str, app: &str) -> Result<Option<String>> {
        Ok(self
            .row(
                "SELECT id FROM accounts WHERE user_id = ?1 AND app_id = ?2
                 ORDER BY status = 'deleted', id LIMIT 1",
                [user, app],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn accounts_in(&self, app: &str) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, app_id, user_id, username, email, status, attributes FROM accounts
             WHERE app_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([app], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn account(&self, app: &str, id: &str) -> Result<Option<Account>> {
        Ok(self
            .row(
                "SELECT id, app_id, user_id, username, email, status, attributes FROM accounts
                 WHERE app_id = ?1 AND id = ?2",
                [app, id],
                account_from_row,
            )
            .optional()?)
    }

    fn accounts_of(&self, user: &str) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, app_id, user_id, username, email, status, attributes FROM accounts
             WHERE user_id = ?1 ORDER BY app_id, id",
        )?;
        let rows = stmt.query_map([user], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn entitlements_in(&self, app: &str) -> Result<Vec<Entitlement>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM entitlements WHERE app_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([app], entitlement_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn entitlement(&self, id: &str) -> Result<Option<Entitlement>> {
        Ok(self
            .row(
                "SELECT * FROM entitlements WHERE id = ?1",
                [id],
                entitlement_from_row,
            )
            .optional()?)
    }

    fn entitlements(&self) -> Result<Vec<Entitlement>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM entitlements ORDER BY id")?;
        let rows = stmt.query_map([], entitlement_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn grants_of(&self, user: &str) -> Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT g.user_id, g.entitlement_id, e.app_id, e.resource_type, e.resource, g.source, g.granted_at
             FROM grants g JOIN entitlements e ON e.id = g.entitlement_id
             WHERE g.user_id = ?1 ORDER BY g.entitlement_id",
        )?;
        let rows = stmt.query_map([user], grant_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn grants_in(&self, app: &str) -> Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT g.user_id, g.entitlement_id, e.app_id, e.resource_type, e.resource, g.source, g.granted_at
             FROM entitlements e JOIN grants g ON g.entitlement_id = e.id
             WHERE e.app_id = ?1 ORDER BY g.entitlement_id, g.user_id",
        )?;
        let rows = stmt.query_map([app], grant_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool> {
        Ok(self
            .row(
                "SELECT 1 FROM grants WHERE user_id = ?1 AND entitlement_id = ?2",
                [user, entitlement],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn access_profile(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .row(
                "SELECT name FROM access_profiles WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn profile_entitlements(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entitlement_id FROM access_profile_entitlements WHERE profile_id = ?1 ORDER BY entitlement_id",
        )?;
        let rows = stmt.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn enrollments_of(&self, user: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT profile_id FROM enrollments WHERE user_id = ?1 ORDER BY profile_id",
        )?;
        let rows = stmt.query_map([user], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn task(&self, id: i64) -> Result<Option<Task>> {
        Ok(self
            .row("SELECT * FROM tasks WHERE id = ?1", [id], task_from_row)
            .optional()?)
    }

    fn open_task_for(&self, kind: &str, subject: &str, entitlement: &str) -> Result<Option<Task>> {
        Ok(self.row(
                "SELECT * FROM tasks WHERE kind = ?1 AND subject_id = ?2 AND entitlement_id = ?3 AND state = 'open'",
                [kind, subject, entitlement],
                task_from_row,
            )
            .optional()?)
    }

    fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
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

    fn review_template(&self, id: &str) -> Result<Option<ReviewTemplate>> {
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

    fn campaigns(&self) -> Result<Vec<Campaign>> {
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

/// A row of `id, app_id, user_id, username, email, status, attributes`.
fn account_from_row(r: &rusqlite::Row) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        app_id: r.get(1)?,
        user_id: r.get(2)?,
        username: r.get(3)?,
        email: r.get(4)?,
        status: r.get(5)?,
        attributes: serde_json::from_str(&r.get::<_, String>(6)?)
            .unwrap_or(serde_json::Value::Null),
    })
}

/// A row of `user_id, entitlement_id, app_id, resource_type, resource,
/// source, granted_at`.
fn grant_from_row(r: &rusqlite::Row) -> rusqlite::Result<Grant> {
    Ok(Grant {
        user_id: r.get(0)?,
        entitlement_id: r.get(1)?,
        app_id: r.get(2)?,
        resource_type: r.get(3)?,
        resource: r.get(4)?,
        source: r.get(5)?,
        granted_at: r.get(6)?,
    })
}

fn event_from_row(r: &rusqlite::Row) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: r.get(0)?,
        kind: r.get(1)?,
        subject_id: r.get(2)?,
        payload: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(serde_json::Value::Null),
        actor: r.get(4)?,
        at: r.get(5)?,
    })
}
