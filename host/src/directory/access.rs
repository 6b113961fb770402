//! Apps, entitlements, grants, accounts and access profiles.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{DirError, Directory, Result, Upsert};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub owner_id: Option<String>,
    /// The connector plugin that provisions this app, once connectors exist.
    pub connector: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entitlement {
    /// `app:slug`.
    pub id: String,
    pub app_id: String,
    pub slug: String,
    pub name: String,
    pub resource_type: String,
    pub resource: Option<String>,
    pub description: Option<String>,
}

/// A user's grant of an entitlement, with what the entitlement belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub user_id: String,
    pub entitlement_id: String,
    pub app_id: String,
    pub resource_type: String,
    pub resource: Option<String>,
    pub source: String,
    pub granted_at: String,
}

/// Picks entitlements by what they belong to; every given key must match.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub app: Option<String>,
    pub resource_type: Option<String>,
    pub resource: Option<String>,
}

impl Selector {
    pub fn matches(&self, app: &str, resource_type: &str, resource: Option<&str>) -> bool {
        self.app.as_deref().is_none_or(|a| a == app)
            && self
                .resource_type
                .as_deref()
                .is_none_or(|t| t == resource_type)
            && self.resource.as_deref().is_none_or(|r| Some(r) == resource)
    }
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

impl Directory<'_> {
    pub fn app(&self, id: &str) -> Result<Option<App>> {
        Ok(self
            .row(
                "SELECT id, name, owner_id, connector, description FROM apps WHERE id = ?1",
                [id],
                app_from_row,
            )
            .optional()?)
    }

    /// The app whose accounts and access connector `connector` manages.
    pub fn app_with_connector(&self, connector: &str) -> Result<Option<App>> {
        Ok(self
            .row(
                "SELECT id, name, owner_id, connector, description FROM apps WHERE connector = ?1 ORDER BY id LIMIT 1",
                [connector],
                app_from_row,
            )
            .optional()?)
    }

    /// The id of `user`'s account in `app`, if the directory knows one.
    pub fn account_of(&self, user: &str, app: &str) -> Result<Option<String>> {
        Ok(self
            .row(
                "SELECT id FROM accounts WHERE user_id = ?1 AND app_id = ?2 ORDER BY id LIMIT 1",
                [user, app],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn put_app(&self, app: &App) -> Result<Upsert> {
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

    pub fn entitlement(&self, id: &str) -> Result<Option<Entitlement>> {
        Ok(self
            .row(
                "SELECT * FROM entitlements WHERE id = ?1",
                [id],
                entitlement_from_row,
            )
            .optional()?)
    }

    pub fn require_entitlement(&self, id: &str) -> Result<Entitlement> {
        self.entitlement(id)?
            .ok_or_else(|| DirError::not_found("entitlement", id))
    }

    pub fn put_entitlement(&self, e: &Entitlement) -> Result<Upsert> {
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

    /// Every entitlement, by id.
    pub fn entitlements(&self) -> Result<Vec<Entitlement>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM entitlements ORDER BY id")?;
        let rows = stmt.query_map([], entitlement_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The grants `user` holds, by entitlement id.
    pub fn grants_of(&self, user: &str) -> Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT g.user_id, g.entitlement_id, e.app_id, e.resource_type, e.resource, g.source, g.granted_at
             FROM grants g JOIN entitlements e ON e.id = g.entitlement_id
             WHERE g.user_id = ?1 ORDER BY g.entitlement_id",
        )?;
        let rows = stmt.query_map([user], |r| {
            Ok(Grant {
                user_id: r.get(0)?,
                entitlement_id: r.get(1)?,
                app_id: r.get(2)?,
                resource_type: r.get(3)?,
                resource: r.get(4)?,
                source: r.get(5)?,
                granted_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool> {
        Ok(self
            .row(
                "SELECT 1 FROM grants WHERE user_id = ?1 AND entitlement_id = ?2",
                [user, entitlement],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Adds a grant; records `grant_added`. Returns false if it was held.
    pub fn add_grant(&self, user: &str, entitlement: &str, source: &str) -> Result<bool> {
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

    /// Removes a grant; records `grant_removed`. Returns false if not held.
    pub fn remove_grant(&self, user: &str, entitlement: &str) -> Result<bool> {
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

    /// Creates or updates an account (a user's identity in an app); records
    /// `account_created` or `account_updated`.
    pub fn put_account(&self, account: &Json) -> Result<Upsert> {
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
                "SELECT app_id, user_id, username, email, status, attributes FROM accounts WHERE id = ?1",
                [&id],
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
             ON CONFLICT (id) DO UPDATE SET app_id = ?2, user_id = ?3, username = ?4, email = ?5, status = ?6, attributes = ?7",
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

    pub fn access_profile(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .row(
                "SELECT name FROM access_profiles WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The entitlements an access profile bundles, by id.
    pub fn profile_entitlements(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entitlement_id FROM access_profile_entitlements WHERE profile_id = ?1 ORDER BY entitlement_id",
        )?;
        let rows = stmt.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Creates or replaces an access profile and its entitlements.
    pub fn put_access_profile(
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

    /// The access profiles `user` is enrolled in.
    pub fn enrollments_of(&self, user: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT profile_id FROM enrollments WHERE user_id = ?1 ORDER BY profile_id",
        )?;
        let rows = stmt.query_map([user], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Enrolls `user` in `profile`; records `user_enrolled` if new.
    pub fn enroll(&self, profile: &str, user: &str) -> Result<bool> {
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

    /// Unenrolls `user` from `profile`; records `user_unenrolled` if enrolled.
    pub fn unenroll(&self, profile: &str, user: &str) -> Result<bool> {
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
}
