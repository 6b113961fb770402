//! Writing a [`DirectoryFile`] into the directory, as a merge or as a
//! snapshot, and what changed.

use std::collections::HashSet;

use serde_json::json;

use super::file::{
    AccountIn, AppIn, DelegateIn, DirectoryFile, GrantIn, ProfileIn, TemplateIn, UserIn,
};
use super::record::Str;
use super::summary::{Action, Change, Kind};
use super::tree::{Located, Pos};
use crate::directory::{
    App, DELETED, DirError, Directory, DirectoryChanges, DirectoryReads, Entitlement, Upsert, User,
};

/// How an import treats what the file leaves out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The file is the whole truth for each kind it holds.
    pub snapshot: bool,
    /// A snapshot may mark more than half of the users deleted.
    pub allow_mass_delete: bool,
}

/// Why an import stopped; nothing of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    At(Located),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Directory(#[from] DirError),
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{0}")]
    Unavailable(#[from] crate::error::StoreError),
}

type Result<T> = std::result::Result<T, ImportError>;

/// Places a directory error at `pos` in the file.
fn at(pos: Pos) -> impl Fn(DirError) -> ImportError {
    move |e| ImportError::At(Located::new(pos, e.to_string()))
}

fn refuse(pos: Pos, message: String) -> ImportError {
    ImportError::At(Located::new(pos, message))
}

/// Writes `file` into the directory and returns what changed. Call inside
/// one transaction: an error anywhere leaves the directory unchanged.
pub fn apply(dir: &Directory, file: &DirectoryFile, options: Options) -> Result<Vec<Change>> {
    let mut w = Writer {
        dir,
        options,
        changes: Vec::new(),
    };
    if let Some(users) = &file.users {
        w.users(users)?;
    }
    if let Some(apps) = &file.apps {
        w.apps(apps)?;
    }
    if let Some(grants) = &file.grants {
        w.grants(grants)?;
    }
    for a in file.accounts.iter().flatten() {
        w.account(a)?;
    }
    if let Some(profiles) = &file.access_profiles {
        w.profiles(profiles)?;
    }
    if let Some(delegates) = &file.delegates {
        w.delegates(delegates)?;
    }
    for t in file.review_templates.iter().flatten() {
        w.template(t)?;
    }
    Ok(w.changes)
}

struct Writer<'d, 'c> {
    dir: &'d Directory<'c>,
    options: Options,
    changes: Vec<Change>,
}

impl Writer<'_, '_> {
    fn note(&mut self, kind: Kind, id: impl Into<String>, action: Action) {
        self.changes.push(Change {
            kind,
            id: id.into(),
            action,
        });
    }

    fn upserted(&mut self, kind: Kind, id: &str, upsert: Upsert) {
        match upsert {
            Upsert::Created => self.note(kind, id, Action::Added),
            Upsert::Updated => self.note(kind, id, Action::Updated),
            Upsert::Unchanged => {}
        }
    }

    fn users(&mut self, users: &[UserIn]) -> Result<()> {
        let leaving = if self.options.snapshot {
            self.leaving(users)?
        } else {
            Vec::new()
        };
        for u in users {
            let user = merged(self.dir.user(&u.id.value)?, u)?;
            let upsert = self.dir.put_user(&user).map_err(at(u.id.pos))?;
            self.upserted(Kind::User, &u.id.value, upsert);
        }
        // A manager may come later in the file than the people they manage.
        for u in users {
            if let Some(Some(m)) = &u.manager
                && self.dir.user(&m.value)?.is_none()
            {
                return Err(refuse(
                    m.pos,
                    format!("user `{}`: unknown manager `{}`", u.id.value, m.value),
                ));
            }
        }
        let managed = users.iter().filter_map(|u| match &u.manager {
            Some(Some(m)) => Some((&u.id, m.pos)),
            _ => None,
        });
        no_cycle("manager", managed, |id| {
            Ok(self.dir.user(id)?.and_then(|u| u.manager_id))
        })?;
        for mut user in leaving {
            user.status = DELETED.into();
            self.dir.put_user(&user)?;
            self.note(Kind::User, user.id, Action::Deleted);
        }
        Ok(())
    }

    /// The users a snapshot no longer lists, refusing to take more than half.
    fn leaving(&self, users: &[UserIn]) -> Result<Vec<User>> {
        let listed: HashSet<&str> = users.iter().map(|u| u.id.value.as_str()).collect();
        let present: Vec<User> = self
            .dir
            .users()?
            .into_iter()
            .filter(|u| u.status != DELETED)
            .collect();
        let total = present.len();
        let leaving: Vec<User> = present
            .into_iter()
            .filter(|u| !listed.contains(u.id.as_str()))
            .collect();
        if leaving.len() * 2 > total && !self.options.allow_mass_delete {
            return Err(ImportError::Refused(format!(
                "this snapshot would mark {} of the {total} users deleted, more than half; \
                 check the file, or pass --allow-mass-delete if that is right",
                leaving.len()
            )));
        }
        Ok(leaving)
    }

    fn apps(&mut self, apps: &[AppIn]) -> Result<()> {
        for a in apps {
            if let Some(owner) = &a.owner
                && self.dir.user(&owner.value)?.is_none()
            {
                return Err(refuse(
                    owner.pos,
                    format!("app `{}`: unknown owner `{}`", a.id.value, owner.value),
                ));
            }
            let upsert = self
                .dir
                .put_app(&App {
                    id: a.id.value.clone(),
                    name: a.name.value.clone(),
                    owner_id: value(&a.owner),
                    connector: value(&a.connector),
                    description: value(&a.description),
                })
                .map_err(at(a.id.pos))?;
            self.upserted(Kind::App, &a.id.value, upsert);
            for e in &a.entitlements {
                let id = format!("{}:{}", a.id.value, e.slug.value);
                let upsert = self
                    .dir
                    .put_entitlement(&Entitlement {
                        id: id.clone(),
                        app_id: a.id.value.clone(),
                        slug: e.slug.value.clone(),
                        name: e.name.value.clone(),
                        resource_type: value(&e.resource_type).unwrap_or_else(|| "app".into()),
                        resource: value(&e.resource),
                        description: value(&e.description),
                    })
                    .map_err(at(e.slug.pos))?;
                self.upserted(Kind::Entitlement, &id, upsert);
            }
        }
        Ok(())
    }

    fn grants(&mut self, grants: &[GrantIn]) -> Result<()> {
        let mut listed = HashSet::new();
        for g in grants {
            let (user, entitlement) = (&g.user.value, &g.entitlement.value);
            let source = g.source.as_ref().map_or("direct", |s| s.value.as_str());
            if self
                .dir
                .add_grant(user, entitlement, source)
                .map_err(at(g.pos))?
            {
                self.note(Kind::Grant, format!("{user} {entitlement}"), Action::Added);
            }
            listed.insert((user.clone(), entitlement.clone()));
        }
        if self.options.snapshot {
            for (user, entitlement) in
                self.pairs("SELECT user_id, entitlement_id FROM grants ORDER BY 1, 2")?
            {
                if !listed.contains(&(user.clone(), entitlement.clone())) {
                    self.dir.remove_grant(&user, &entitlement)?;
                    self.note(
                        Kind::Grant,
                        format!("{user} {entitlement}"),
                        Action::Removed,
                    );
                }
            }
        }
        Ok(())
    }

    fn account(&mut self, a: &AccountIn) -> Result<()> {
        let upsert = self.dir.put_account(&a.fields).map_err(at(a.id.pos))?;
        self.upserted(Kind::Account, &a.id.value, upsert);
        Ok(())
    }

    fn profiles(&mut self, profiles: &[ProfileIn]) -> Result<()> {
        let mut listed = HashSet::new();
        for p in profiles {
            let entitlements: Vec<String> =
                p.entitlements.iter().map(|e| e.value.clone()).collect();
            let upsert = self
                .dir
                .put_access_profile(
                    &p.id.value,
                    &p.name.value,
                    p.description.as_ref().map(|d| d.value.as_str()),
                    &entitlements,
                )
                .map_err(at(p.id.pos))?;
            self.upserted(Kind::AccessProfile, &p.id.value, upsert);
            for user in &p.enrolled {
                if self
                    .dir
                    .enroll(&p.id.value, &user.value)
                    .map_err(at(user.pos))?
                {
                    self.note(
                        Kind::Enrollment,
                        format!("{} {}", p.id.value, user.value),
                        Action::Added,
                    );
                }
                listed.insert((p.id.value.clone(), user.value.clone()));
            }
        }
        if self.options.snapshot {
            for (profile, user) in
                self.pairs("SELECT profile_id, user_id FROM enrollments ORDER BY 1, 2")?
            {
                if !listed.contains(&(profile.clone(), user.clone())) {
                    self.dir.unenroll(&profile, &user)?;
                    self.note(
                        Kind::Enrollment,
                        format!("{profile} {user}"),
                        Action::Removed,
                    );
                }
            }
        }
        Ok(())
    }

    fn delegates(&mut self, delegates: &[DelegateIn]) -> Result<()> {
        for d in delegates {
            self.dir
                .require_user(&d.user.value)
                .map_err(at(d.user.pos))?;
            let (old, changed) = self
                .dir
                .set_delegate(&d.user.value, Some(&d.delegate.value))
                .map_err(at(d.delegate.pos))?;
            if changed {
                let action = if old.is_some() {
                    Action::Updated
                } else {
                    Action::Added
                };
                self.note(Kind::Delegation, &d.user.value, action);
            }
        }
        no_cycle(
            "delegation",
            delegates.iter().map(|d| (&d.user, d.delegate.pos)),
            |id| self.dir.delegate_of(id),
        )?;
        if self.options.snapshot {
            let listed: HashSet<&str> = delegates.iter().map(|d| d.user.value.as_str()).collect();
            for (user, _) in self.pairs("SELECT user_id, delegate_id FROM delegates ORDER BY 1")? {
                if !listed.contains(user.as_str()) {
                    self.dir.set_delegate(&user, None)?;
                    self.note(Kind::Delegation, user, Action::Removed);
                }
            }
        }
        Ok(())
    }

    fn template(&mut self, t: &TemplateIn) -> Result<()> {
        if let Some(f) = &t.fallback {
            self.dir.require_user(&f.value).map_err(at(f.pos))?;
        }
        let upsert = self
            .dir
            .put_review_template(&t.template)
            .map_err(at(t.id.pos))?;
        self.upserted(Kind::ReviewTemplate, &t.id.value, upsert);
        Ok(())
    }

    fn pairs(&self, sql: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.dir.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn value(s: &Option<Str>) -> Option<String> {
    s.as_ref().map(|s| s.value.clone())
}

/// The stored user with the fields the file gives; a field it leaves out
/// keeps its value. A `deleted` user the file lists again is active, unless
/// the file says otherwise.
fn merged(old: Option<User>, u: &UserIn) -> Result<User> {
    let fresh = old.is_none();
    let mut user = old.unwrap_or_else(|| User {
        id: u.id.value.clone(),
        email: None,
        display_name: String::new(),
        username: None,
        status: "active".into(),
        manager_id: None,
        department: None,
        title: None,
        attributes: json!({}),
    });
    match &u.display_name {
        Some(d) => user.display_name = d.value.clone(),
        None if fresh => {
            return Err(refuse(
                u.id.pos,
                format!("new user `{}` needs a `display_name`", u.id.value),
            ));
        }
        None => {}
    }
    for (field, patch) in [
        (&mut user.email, &u.email),
        (&mut user.username, &u.username),
        (&mut user.manager_id, &u.manager),
        (&mut user.department, &u.department),
        (&mut user.title, &u.title),
    ] {
        if let Some(patch) = patch {
            *field = value(patch);
        }
    }
    match &u.status {
        Some(s) => user.status = s.value.clone(),
        None if user.status == DELETED => user.status = "active".into(),
        None => {}
    }
    if let Some(a) = &u.attributes {
        user.attributes = a.clone();
    }
    Ok(user)
}

/// Follows `next` from each start (an id and the place that set its link)
/// and refuses a loop. Each id is walked once over all starts.
fn no_cycle<'s>(
    what: &str,
    starts: impl Iterator<Item = (&'s Str, Pos)>,
    next: impl Fn(&str) -> std::result::Result<Option<String>, DirError>,
) -> Result<()> {
    let mut done = HashSet::new();
    for (start, pos) in starts {
        let mut path: Vec<String> = Vec::new();
        let mut on_path = HashSet::new();
        let mut current = Some(start.value.clone());
        while let Some(id) = current {
            if done.contains(&id) {
                break;
            }
            if !on_path.insert(id.clone()) {
                let from = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(id);
                return Err(refuse(pos, format!("{what} cycle: {}", cycle.join(" → "))));
            }
            current = next(&id).map_err(at(pos))?;
            path.push(id);
        }
        done.extend(path);
    }
    Ok(())
}
