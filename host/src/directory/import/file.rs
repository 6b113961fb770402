//! The typed contents of a directory file, and the rules one file must keep
//! by itself (unique ids, no self-references). Rules that need the
//! directory too (unknown references, cycles) are checked as it is written.

use serde_json::{Value as Json, json};

use super::record::{Record, Str, unique};
use super::tree::{Located, Node, Pos, Result, Value};
use crate::directory::ReviewTemplate;

/// A directory file. A kind the file leaves out is `None`: a snapshot
/// import leaves that kind alone.
#[derive(Debug, Default)]
pub struct DirectoryFile {
    pub users: Option<Vec<UserIn>>,
    pub apps: Option<Vec<AppIn>>,
    pub grants: Option<Vec<GrantIn>>,
    pub accounts: Option<Vec<AccountIn>>,
    pub access_profiles: Option<Vec<ProfileIn>>,
    pub delegates: Option<Vec<DelegateIn>>,
    pub review_templates: Option<Vec<TemplateIn>>,
}

/// A field the file may leave out (keep it), set to `null` (clear it) or give.
pub type Patch = Option<Option<Str>>;

#[derive(Debug)]
pub struct UserIn {
    pub id: Str,
    pub display_name: Option<Str>,
    pub email: Patch,
    pub username: Patch,
    pub status: Option<Str>,
    pub manager: Patch,
    pub department: Patch,
    pub title: Patch,
    pub attributes: Option<Json>,
}

#[derive(Debug)]
pub struct AppIn {
    pub id: Str,
    pub name: Str,
    pub owner: Option<Str>,
    pub connector: Option<Str>,
    pub description: Option<Str>,
    pub entitlements: Vec<EntitlementIn>,
}

#[derive(Debug)]
pub struct EntitlementIn {
    pub slug: Str,
    pub name: Str,
    pub resource_type: Option<Str>,
    pub resource: Option<Str>,
    pub description: Option<Str>,
}

#[derive(Debug)]
pub struct GrantIn {
    pub pos: Pos,
    pub user: Str,
    pub entitlement: Str,
    pub source: Option<Str>,
}

#[derive(Debug)]
pub struct AccountIn {
    pub id: Str,
    pub user: Option<Str>,
    /// The account as [`crate::directory::Directory::put_account`] takes it.
    pub fields: Json,
}

#[derive(Debug)]
pub struct ProfileIn {
    pub id: Str,
    pub name: Str,
    pub description: Option<Str>,
    pub entitlements: Vec<Str>,
    pub enrolled: Vec<Str>,
}

#[derive(Debug)]
pub struct DelegateIn {
    pub user: Str,
    pub delegate: Str,
}

#[derive(Debug)]
pub struct TemplateIn {
    pub id: Str,
    pub fallback: Option<Str>,
    pub template: ReviewTemplate,
}

fn value(s: Option<Str>) -> Option<String> {
    s.map(|s| s.value)
}

/// Reads the typed file from its tree and checks the rules it keeps alone.
pub fn from_tree(root: &Node) -> Result<DirectoryFile> {
    if root.value == Value::Null {
        return Ok(DirectoryFile::default());
    }
    let top = Record::new(
        root,
        "directory file",
        &[
            "users",
            "apps",
            "grants",
            "accounts",
            "access_profiles",
            "delegates",
            "review_templates",
        ],
    )?;
    let file = DirectoryFile {
        users: kind(&top, "users", user)?,
        apps: kind(&top, "apps", app)?,
        grants: kind(&top, "grants", grant)?,
        accounts: kind(&top, "accounts", account)?,
        access_profiles: kind(&top, "access_profiles", profile)?,
        delegates: kind(&top, "delegates", delegate)?,
        review_templates: kind(&top, "review_templates", template)?,
    };
    check(&file)?;
    Ok(file)
}

/// The items of one kind, or `None` when the file leaves the kind out.
fn kind<T>(top: &Record, key: &str, read: fn(&Node) -> Result<T>) -> Result<Option<Vec<T>>> {
    top.list(key)?
        .map(|items| items.iter().map(read).collect())
        .transpose()
}

fn user(node: &Node) -> Result<UserIn> {
    let r = Record::new(
        node,
        "user",
        &[
            "id",
            "display_name",
            "email",
            "username",
            "status",
            "manager",
            "department",
            "title",
            "attributes",
        ],
    )?;
    let attributes = match r.get("attributes") {
        None => None,
        Some(
            n @ Node {
                value: Value::Map(_),
                ..
            },
        ) => Some(n.to_json()),
        Some(n) => {
            return Err(Located::new(
                n.pos,
                format!("`attributes` must be a mapping, found {}", n.kind()),
            ));
        }
    };
    let user = UserIn {
        id: r.required("id")?.id("user")?,
        display_name: r.string("display_name")?,
        email: r.patch("email")?,
        username: r.patch("username")?,
        status: r.string("status")?,
        manager: r.patch("manager")?,
        department: r.patch("department")?,
        title: r.patch("title")?,
        attributes,
    };
    if let Some(Some(m)) = &user.manager
        && m.value == user.id.value
    {
        return Err(Located::new(
            m.pos,
            format!("user `{}` cannot be their own manager", m.value),
        ));
    }
    Ok(user)
}

fn app(node: &Node) -> Result<AppIn> {
    let r = Record::new(
        node,
        "app",
        &[
            "id",
            "name",
            "owner",
            "connector",
            "description",
            "entitlements",
        ],
    )?;
    let entitlements = r
        .list("entitlements")?
        .unwrap_or_default()
        .iter()
        .map(entitlement)
        .collect::<Result<Vec<_>>>()?;
    Ok(AppIn {
        id: r.required("id")?.id("app")?.without_colon("app id")?,
        name: r.required("name")?,
        owner: r.string("owner")?,
        connector: r.string("connector")?,
        description: r.string("description")?,
        entitlements,
    })
}

fn entitlement(node: &Node) -> Result<EntitlementIn> {
    let r = Record::new(
        node,
        "entitlement",
        &["slug", "name", "resource_type", "resource", "description"],
    )?;
    Ok(EntitlementIn {
        // A slug may hold `:` (a SCIM group's `group:<id>:member`): the
        // app id before it cannot, so an entitlement id's first `:` is
        // always the one between app and slug.
        slug: r.required("slug")?.id("entitlement")?,
        name: r.required("name")?,
        resource_type: r.string("resource_type")?,
        resource: r.string("resource")?,
        description: r.string("description")?,
    })
}

fn grant(node: &Node) -> Result<GrantIn> {
    let r = Record::new(node, "grant", &["user", "entitlement", "source"])?;
    Ok(GrantIn {
        pos: r.pos,
        user: r.required("user")?.id("user")?,
        entitlement: r.required("entitlement")?.id("entitlement")?,
        source: r.string("source")?,
    })
}

fn account(node: &Node) -> Result<AccountIn> {
    let r = Record::new(
        node,
        "account",
        &[
            "id",
            "app",
            "user",
            "username",
            "email",
            "status",
            "attributes",
        ],
    )?;
    let id = r.required("id")?.id("account")?;
    let user = r.string("user")?.map(|u| u.id("user")).transpose()?;
    let mut fields = json!({
        "id": id.value,
        "app": r.required("app")?.value,
        "user": user.as_ref().map(|u| u.value.clone()),
        "username": value(r.string("username")?),
        "email": value(r.string("email")?),
        "status": value(r.string("status")?),
    });
    if let Some(a) = r.get("attributes") {
        fields["attributes"] = a.to_json();
    }
    Ok(AccountIn { id, user, fields })
}

fn profile(node: &Node) -> Result<ProfileIn> {
    let r = Record::new(
        node,
        "access profile",
        &["id", "name", "description", "entitlements", "enrolled"],
    )?;
    Ok(ProfileIn {
        id: r.required("id")?.id("access profile")?,
        name: r.required("name")?,
        description: r.string("description")?,
        entitlements: r.strings("entitlements")?.unwrap_or_default(),
        enrolled: r.strings("enrolled")?.unwrap_or_default(),
    })
}

fn delegate(node: &Node) -> Result<DelegateIn> {
    let r = Record::new(node, "delegate", &["user", "delegate"])?;
    let d = DelegateIn {
        user: r.required("user")?.id("user")?,
        delegate: r.required("delegate")?.id("user")?,
    };
    if d.user.value == d.delegate.value {
        return Err(Located::new(
            d.delegate.pos,
            format!("user `{}` cannot delegate to themselves", d.user.value),
        ));
    }
    Ok(d)
}

fn template(node: &Node) -> Result<TemplateIn> {
    let r = Record::new(
        node,
        "review template",
        &[
            "id",
            "name",
            "reviewer",
            "fallback_reviewer",
            "apps",
            "description",
        ],
    )?;
    let id = r.required("id")?.id("review template")?;
    let fallback = r.string("fallback_reviewer")?;
    let template = ReviewTemplate {
        id: id.value.clone(),
        name: r.required("name")?.value,
        reviewer: r.required("reviewer")?.value,
        fallback_reviewer: fallback.as_ref().map(|f| f.value.clone()),
        apps: r
            .strings("apps")?
            .map(|a| a.into_iter().map(|s| s.value).collect()),
        description: value(r.string("description")?),
    };
    Ok(TemplateIn {
        id,
        fallback,
        template,
    })
}

fn keyed<'a, T: 'a>(
    items: &'a Option<Vec<T>>,
    key: impl Fn(&T) -> &Str,
) -> impl Iterator<Item = (String, Pos)> {
    items.iter().flatten().map(move |i| {
        let s = key(i);
        (s.value.clone(), s.pos)
    })
}

/// Each id once per file: a second one would silently win.
fn check(file: &DirectoryFile) -> Result<()> {
    unique("user id", keyed(&file.users, |u| &u.id))?;
    unique("app id", keyed(&file.apps, |a| &a.id))?;
    for a in file.apps.iter().flatten() {
        unique(
            "entitlement",
            a.entitlements
                .iter()
                .map(|e| (format!("{}:{}", a.id.value, e.slug.value), e.slug.pos)),
        )?;
    }
    unique(
        "grant",
        file.grants
            .iter()
            .flatten()
            .map(|g| (format!("{} × {}", g.user.value, g.entitlement.value), g.pos)),
    )?;
    unique(
        "account id in its app",
        file.accounts.iter().flatten().map(|a| {
            let app = a.fields["app"].as_str().unwrap_or_default();
            (format!("{app}:{}", a.id.value), a.id.pos)
        }),
    )?;
    unique("access profile id", keyed(&file.access_profiles, |p| &p.id))?;
    for p in file.access_profiles.iter().flatten() {
        unique(
            "entitlement in the profile",
            p.entitlements.iter().map(|e| (e.value.clone(), e.pos)),
        )?;
        unique(
            "enrolled user",
            p.enrolled.iter().map(|e| (e.value.clone(), e.pos)),
        )?;
    }
    unique("delegation for user", keyed(&file.delegates, |d| &d.user))?;
    unique(
        "review template id",
        keyed(&file.review_templates, |t| &t.id),
    )?;
    Ok(())
}
