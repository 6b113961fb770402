//! What a connector's `sync` lists, read into plain data (pure). Items are
//! the JSON objects the WIT documents; one that does not fit fails the
//! sync, because a listing with holes would read as access taken away.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::plugins::SyncKind;

/// An account in the app (a `users` item).
#[derive(Debug, Clone, PartialEq)]
pub struct ListedAccount {
    pub id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `active` unless the connector says otherwise.
    pub status: String,
    /// What else the app reports (`profile`).
    pub profile: Map<String, Json>,
}

/// Something in the app that entitlements belong to (a `resources` item).
#[derive(Debug, Clone, PartialEq)]
pub struct ListedResource {
    pub kind: String,
    pub display_name: Option<String>,
}

/// What a principal can hold (an `entitlements` item).
#[derive(Debug, Clone, PartialEq)]
pub struct ListedEntitlement {
    pub slug: String,
    pub resource: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// An account holding an entitlement (a `grants` item).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedGrant {
    pub account: String,
    pub slug: String,
}

/// Everything a connector listed. An id listed twice (a page boundary
/// that moved while paging) counts once, the later item winning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub accounts: BTreeMap<String, ListedAccount>,
    pub resources: BTreeMap<String, ListedResource>,
    pub entitlements: BTreeMap<String, ListedEntitlement>,
    pub grants: Vec<ListedGrant>,
}

/// The longest status text an account may carry.
const STATUS_MAX: usize = 32;

impl Listing {
    /// Adds one page's items of `kind`; `Err` says which field of which
    /// item is wrong (`page` and the item's place count from 1).
    pub fn add(&mut self, kind: SyncKind, page: usize, items: Vec<Json>) -> Result<(), String> {
        for (i, item) in items.into_iter().enumerate() {
            let at = |why: String| format!("{} page {page} item {}: {why}", kind.name(), i + 1);
            let Json::Object(item) = item else {
                return Err(at("not a JSON object".into()));
            };
            let item = Item(item);
            match kind {
                SyncKind::Users => {
                    let account = item.account().map_err(at)?;
                    self.accounts.insert(account.id.clone(), account);
                }
                SyncKind::Resources => {
                    let id = item.required("id").map_err(at)?;
                    let resource = ListedResource {
                        kind: item.optional("type").map_err(at)?.unwrap_or("app".into()),
                        display_name: item.optional("display_name").map_err(at)?,
                    };
                    self.resources.insert(id, resource);
                }
                SyncKind::Entitlements => {
                    let e = ListedEntitlement {
                        slug: item.slug("slug").map_err(at)?,
                        resource: item.optional("resource").map_err(at)?,
                        display_name: item.optional("display_name").map_err(at)?,
                        description: item.optional("description").map_err(at)?,
                    };
                    self.entitlements.insert(e.slug.clone(), e);
                }
                SyncKind::Grants => self.grants.push(ListedGrant {
                    account: item.required("user").map_err(at)?,
                    slug: item.slug("entitlement").map_err(at)?,
                }),
            }
        }
        Ok(())
    }

    /// The grants, each once, in order.
    pub fn distinct_grants(&mut self) {
        self.grants.sort();
        self.grants.dedup();
    }
}

/// One listed JSON object.
struct Item(Map<String, Json>);

impl Item {
    fn optional(&self, key: &str) -> Result<Option<String>, String> {
        match self.0.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(Json::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(format!("`{key}` is {}, not text", kind_of(other))),
        }
    }

    fn required(&self, key: &str) -> Result<String, String> {
        match self.optional(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(format!("`{key}` is missing")),
        }
    }

    /// An entitlement slug: the part of its id after the app (`app:slug`).
    fn slug(&self, key: &str) -> Result<String, String> {
        let slug = self.required(key)?;
        if slug.chars().any(char::is_control) {
            return Err(format!("`{key}` holds a control character"));
        }
        Ok(slug)
    }

    fn account(&self) -> Result<ListedAccount, String> {
        let status = self.optional("status")?.unwrap_or("active".into());
        if status.is_empty() || status.len() > STATUS_MAX {
            return Err(format!("`status` is not 1 to {STATUS_MAX} bytes"));
        }
        let profile = match self.0.get("profile") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(p)) => p.clone(),
            Some(other) => return Err(format!("`profile` is {}, not an object", kind_of(other))),
        };
        Ok(ListedAccount {
            id: self.required("id")?,
            username: self.optional("username")?,
            email: self.optional("email")?,
            display_name: self.optional("display_name")?,
            status,
            profile,
        })
    }
}

fn kind_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_become_plain_data_and_repeats_count_once() {
        let mut l = Listing::default();
        let users = vec![
            json!({"id": "u1", "email": "a@x.io", "profile": {"title": "Eng"}}),
            json!({"id": "u1", "email": "b@x.io", "status": "disabled"}),
        ];
        l.add(SyncKind::Users, 1, users).unwrap();
        assert_eq!(l.accounts.len(), 1);
        assert_eq!(l.accounts["u1"].email.as_deref(), Some("b@x.io"));
        assert_eq!(l.accounts["u1"].status, "disabled");
        l.add(SyncKind::Resources, 1, vec![json!({"id": 7})])
            .unwrap();
        assert_eq!(l.resources["7"].kind, "app");
        let grant = json!({"user": "u1", "entitlement": "group:7:member"});
        l.add(SyncKind::Grants, 1, vec![grant.clone(), grant])
            .unwrap();
        l.distinct_grants();
        assert_eq!(l.grants.len(), 1);
    }

    #[test]
    fn a_bad_item_says_where_and_what() {
        let mut l = Listing::default();
        let bad = [
            (
                SyncKind::Users,
                json!({"email": "a@x.io"}),
                "users page 2 item 1: `id` is missing",
            ),
            (
                SyncKind::Users,
                json!({"id": "u", "profile": 3}),
                "`profile` is a number, not an object",
            ),
            (
                SyncKind::Entitlements,
                json!({"slug": ["x"]}),
                "`slug` is a list, not text",
            ),
            (
                SyncKind::Grants,
                json!({"user": "u", "entitlement": "a\nb"}),
                "control character",
            ),
            (SyncKind::Grants, json!("u"), "not a JSON object"),
        ];
        for (kind, item, want) in bad {
            let e = l.add(kind, 2, vec![item]).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
