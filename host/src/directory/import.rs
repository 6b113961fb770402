//! `keystep directory import FILE`: users, apps with their entitlements,
//! grants, accounts, access profiles with enrollments, delegates and review
//! templates, from YAML or JSON. Importing the same file twice changes
//! nothing the second time.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value as Json;

use super::{App, DirError, Directory, Entitlement, ReviewTemplate, User};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    #[serde(default)]
    users: Vec<UserIn>,
    #[serde(default)]
    apps: Vec<AppIn>,
    #[serde(default)]
    grants: Vec<GrantIn>,
    #[serde(default)]
    accounts: Vec<Json>,
    #[serde(default)]
    access_profiles: Vec<ProfileIn>,
    #[serde(default)]
    delegates: Vec<DelegateIn>,
    #[serde(default)]
    review_templates: Vec<ReviewTemplate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserIn {
    id: String,
    display_name: String,
    email: Option<String>,
    username: Option<String>,
    #[serde(default = "active")]
    status: String,
    manager: Option<String>,
    department: Option<String>,
    title: Option<String>,
    #[serde(default)]
    attributes: serde_json::Map<String, Json>,
}

fn active() -> String {
    "active".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppIn {
    id: String,
    name: String,
    owner: Option<String>,
    connector: Option<String>,
    description: Option<String>,
    #[serde(default)]
    entitlements: Vec<EntitlementIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntitlementIn {
    slug: String,
    name: String,
    #[serde(default = "app_resource")]
    resource_type: String,
    resource: Option<String>,
    description: Option<String>,
}

fn app_resource() -> String {
    "app".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantIn {
    user: String,
    entitlement: String,
    #[serde(default = "direct")]
    source: String,
}

fn direct() -> String {
    "direct".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileIn {
    id: String,
    name: String,
    description: Option<String>,
    #[serde(default)]
    entitlements: Vec<String>,
    #[serde(default)]
    enrolled: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegateIn {
    user: String,
    delegate: String,
}

/// How much a file held.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub users: usize,
    pub apps: usize,
    pub entitlements: usize,
    pub grants: usize,
    pub accounts: usize,
    pub access_profiles: usize,
    pub delegates: usize,
    pub review_templates: usize,
}

/// Reads a directory file; errors carry the file and, from the parser, the
/// line and column.
pub fn read(path: &Path) -> anyhow::Result<DirectoryFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
    } else {
        serde_yaml::from_str(&text).map_err(|e| match e.location() {
            Some(l) => anyhow::anyhow!("{}:{}:{}: {e}", path.display(), l.line(), l.column()),
            None => anyhow::anyhow!("{}: {e}", path.display()),
        })
    }
}

/// Writes everything in `file` into the directory. Call inside one
/// transaction: an error anywhere leaves the directory unchanged.
pub fn apply(dir: &Directory, file: &DirectoryFile) -> Result<Summary, DirError> {
    let mut summary = Summary::default();
    for u in &file.users {
        dir.put_user(&User {
            id: u.id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            username: u.username.clone(),
            status: u.status.clone(),
            manager_id: u.manager.clone(),
            department: u.department.clone(),
            title: u.title.clone(),
            attributes: Json::Object(u.attributes.clone()),
        })?;
        summary.users += 1;
    }
    // A manager may come later in the file than the people they manage.
    for u in &file.users {
        if let Some(m) = &u.manager
            && dir.user(m)?.is_none()
        {
            return Err(DirError::Invalid(format!(
                "user `{}`: unknown manager `{m}`",
                u.id
            )));
        }
    }
    for a in &file.apps {
        if let Some(owner) = &a.owner {
            dir.user(owner)?.ok_or_else(|| {
                DirError::Invalid(format!("app `{}`: unknown owner `{owner}`", a.id))
            })?;
        }
        dir.put_app(&App {
            id: a.id.clone(),
            name: a.name.clone(),
            owner_id: a.owner.clone(),
            connector: a.connector.clone(),
            description: a.description.clone(),
        })?;
        summary.apps += 1;
        for e in &a.entitlements {
            dir.put_entitlement(&Entitlement {
                id: format!("{}:{}", a.id, e.slug),
                app_id: a.id.clone(),
                slug: e.slug.clone(),
                name: e.name.clone(),
                resource_type: e.resource_type.clone(),
                resource: e.resource.clone(),
                description: e.description.clone(),
            })?;
            summary.entitlements += 1;
        }
    }
    for g in &file.grants {
        dir.add_grant(&g.user, &g.entitlement, &g.source)?;
        summary.grants += 1;
    }
    for a in &file.accounts {
        dir.put_account(a)?;
        summary.accounts += 1;
    }
    for p in &file.access_profiles {
        dir.put_access_profile(&p.id, &p.name, p.description.as_deref(), &p.entitlements)?;
        for user in &p.enrolled {
            dir.enroll(&p.id, user)?;
        }
        summary.access_profiles += 1;
    }
    for d in &file.delegates {
        dir.require_user(&d.user)?;
        dir.set_delegate(&d.user, Some(&d.delegate))?;
        summary.delegates += 1;
    }
    for t in &file.review_templates {
        if let Some(f) = &t.fallback_reviewer {
            dir.require_user(f)?;
        }
        dir.put_review_template(t)?;
        summary.review_templates += 1;
    }
    Ok(summary)
}
