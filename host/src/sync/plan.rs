//! What a sync changes (pure): the connector's listing against what the
//! directory holds for the connector's app.
//!
//! The connector is the truth for its app:
//! - a listed account is created or updated; one no longer listed is
//!   marked `deleted` (kept, with its link to the user, for history and
//!   for automations on `account_updated`), and a listing that has it again
//!   brings it back;
//! - an account keeps the directory user it is linked to; an unlinked one
//!   is linked to the one user with its email (any case), else the one
//!   user with its username;
//! - the app's grants become exactly the listed grants of linked accounts:
//!   others are added (source `sync`) and the rest removed, whatever added
//!   them;
//! - listed entitlements are created or updated; one no longer listed
//!   loses its grants and is removed, unless a task or an access profile
//!   still names it (then it is kept, and said so).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Value as Json, json};

use super::listing::{ListedAccount, ListedEntitlement, Listing};
use crate::directory::{Account, DELETED, Entitlement, Grant, User};

/// What the directory holds for the app, read in the transaction that
/// applies the sync.
#[derive(Debug, Default)]
pub struct Current {
    pub accounts: Vec<Account>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
    /// Every directory user, to link accounts to.
    pub users: Vec<User>,
}

/// One change a sync makes, in the order it is made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    EntitlementCreated {
        entitlement: Entitlement,
    },
    EntitlementUpdated {
        entitlement: Entitlement,
    },
    AccountCreated {
        account: Account,
    },
    AccountUpdated {
        account: Account,
    },
    /// No longer listed: marked `deleted`.
    AccountGone {
        account: Account,
    },
    GrantAdded {
        user_id: String,
        entitlement_id: String,
    },
    GrantRemoved {
        user_id: String,
        entitlement_id: String,
    },
    /// No longer listed: removed if nothing names it.
    EntitlementGone {
        entitlement_id: String,
    },
}

/// Listed grants that cannot become directory grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Skipped {
    /// Of an account the listing does not have.
    pub unknown_account: usize,
    /// Of an account linked to no directory user.
    pub unlinked_account: usize,
    /// Of an entitlement the listing does not have.
    pub unknown_entitlement: usize,
}

/// The changes, and what could not be taken in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub skipped: Skipped,
    /// How many grants and accounts the app had: the mass-removal guard's
    /// measure.
    pub grants_before: usize,
    pub accounts_before: usize,
}

/// Removals up to this many always pass the mass-removal guard.
const FEW: usize = 10;

impl Plan {
    /// Why the plan takes away too much to apply without being told to:
    /// more than half (and more than [`FEW`]) of the app's grants, or of
    /// its accounts. An empty or cut listing looks like that.
    pub fn mass_removal(&self) -> Option<String> {
        let count = |f: fn(&Change) -> bool| self.changes.iter().filter(|c| f(c)).count();
        let grants = count(|c| matches!(c, Change::GrantRemoved { .. }));
        let accounts = count(|c| matches!(c, Change::AccountGone { .. }));
        let too_many = |n: usize, of: usize| n > FEW && n * 2 > of;
        (too_many(grants, self.grants_before) || too_many(accounts, self.accounts_before)).then(
            || {
                format!(
                    "the sync would remove {grants} of {} grants and mark {accounts} of {} accounts deleted, \
                     more than half: check the connector's listing, or pass --allow-mass-removal",
                    self.grants_before, self.accounts_before
                )
            },
        )
    }
}

/// The changes that make `app` in the directory what `listing` says.
pub fn plan(app: &str, listing: &Listing, current: &Current) -> Plan {
    let mut changes = entitlements(app, listing, current);
    let accounts = accounts(app, listing, current);
    let linked: HashMap<&str, Option<&str>> = accounts
        .iter()
        .map(|a| (a.id.as_str(), a.user_id.as_deref()))
        .collect();
    let old: HashMap<&str, &Account> = current
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a))
        .collect();
    for account in &accounts {
        match old.get(account.id.as_str()) {
            None => changes.push(Change::AccountCreated {
                account: account.clone(),
            }),
            Some(old) if *old != account => changes.push(Change::AccountUpdated {
                account: account.clone(),
            }),
            Some(_) => {}
        }
    }
    let (wanted, skipped) = wanted_grants(app, listing, &linked);
    let held: BTreeSet<(String, String)> = current
        .grants
        .iter()
        .map(|g| (g.user_id.clone(), g.entitlement_id.clone()))
        .collect();
    for (user_id, entitlement_id) in wanted.difference(&held).cloned() {
        changes.push(Change::GrantAdded {
            user_id,
            entitlement_id,
        });
    }
    for (user_id, entitlement_id) in held.difference(&wanted).cloned() {
        changes.push(Change::GrantRemoved {
            user_id,
            entitlement_id,
        });
    }
    for old in &current.accounts {
        if !listing.accounts.contains_key(&old.id) && old.status != DELETED {
            let account = Account {
                status: DELETED.into(),
                ..old.clone()
            };
            changes.push(Change::AccountGone { account });
        }
    }
    for e in &current.entitlements {
        if !listing.entitlements.contains_key(&e.slug) {
            changes.push(Change::EntitlementGone {
                entitlement_id: e.id.clone(),
            });
        }
    }
    Plan {
        changes,
        skipped,
        grants_before: held.len(),
        accounts_before: current.accounts.len(),
    }
}

/// The listed entitlements that are new or changed.
fn entitlements(app: &str, listing: &Listing, current: &Current) -> Vec<Change> {
    let old: HashMap<&str, &Entitlement> = current
        .entitlements
        .iter()
        .map(|e| (e.slug.as_str(), e))
        .collect();
    let mut changes = Vec::new();
    for listed in listing.entitlements.values() {
        let before = old.get(listed.slug.as_str()).copied();
        let entitlement = entitlement(app, listed, listing, before);
        match before {
            None => changes.push(Change::EntitlementCreated { entitlement }),
            Some(before) if *before != entitlement => {
                changes.push(Change::EntitlementUpdated { entitlement })
            }
            Some(_) => {}
        }
    }
    changes
}

/// A listed entitlement as the directory keeps it: of the type of the
/// resource it belongs to (`app` when none is listed), its description the
/// connector's or else the one the directory had.
fn entitlement(
    app: &str,
    listed: &ListedEntitlement,
    listing: &Listing,
    before: Option<&Entitlement>,
) -> Entitlement {
    let resource = listed.resource.as_ref();
    let resource_type = resource
        .and_then(|r| listing.resources.get(r))
        .map_or("app".to_string(), |r| r.kind.clone());
    Entitlement {
        id: format!("{app}:{}", listed.slug),
        app_id: app.to_string(),
        slug: listed.slug.clone(),
        name: listed.display_name.clone().unwrap_or(listed.slug.clone()),
        resource_type,
        resource: resource.cloned(),
        description: listed
            .description
            .clone()
            .or_else(|| before.and_then(|b| b.description.clone())),
    }
}

/// Every listed account as the directory will hold it, linked.
fn accounts(app: &str, listing: &Listing, current: &Current) -> Vec<Account> {
    let links = Links::new(&current.users);
    let old: HashMap<&str, &Account> = current
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a))
        .collect();
    listing
        .accounts
        .values()
        .map(|listed| {
            let kept = old
                .get(listed.id.as_str())
                .and_then(|a| a.user_id.as_deref())
                .filter(|u| links.ids.contains(u));
            let user_id = kept.or_else(|| links.find(listed)).map(str::to_string);
            let mut attributes = listed.profile.clone();
            if let Some(name) = &listed.display_name {
                attributes.insert("display_name".into(), json!(name));
            }
            Account {
                id: listed.id.clone(),
                app_id: app.to_string(),
                user_id,
                username: listed.username.clone(),
                email: listed.email.clone(),
                status: listed.status.clone(),
                attributes: Json::Object(attributes),
            }
        })
        .collect()
}

/// The grants the listing says linked accounts hold, as (user,
/// entitlement id), and what was left out.
fn wanted_grants(
    app: &str,
    listing: &Listing,
    linked: &HashMap<&str, Option<&str>>,
) -> (BTreeSet<(String, String)>, Skipped) {
    let mut skipped = Skipped::default();
    let mut wanted = BTreeSet::new();
    for g in &listing.grants {
        if !listing.entitlements.contains_key(&g.slug) {
            skipped.unknown_entitlement += 1;
            continue;
        }
        match linked.get(g.account.as_str()) {
            None => skipped.unknown_account += 1,
            Some(None) => skipped.unlinked_account += 1,
            Some(Some(user)) => {
                wanted.insert((user.to_string(), format!("{app}:{}", g.slug)));
            }
        }
    }
    (wanted, skipped)
}

/// Directory users by email (any case) and by username, to link accounts.
struct Links<'u> {
    ids: BTreeSet<&'u str>,
    by_email: HashMap<String, Vec<&'u str>>,
    by_username: HashMap<&'u str, Vec<&'u str>>,
}

impl<'u> Links<'u> {
    fn new(users: &'u [User]) -> Links<'u> {
        let mut links = Links {
            ids: users.iter().map(|u| u.id.as_str()).collect(),
            by_email: HashMap::new(),
            by_username: HashMap::new(),
        };
        for u in users {
            if let Some(email) = &u.email {
                links
                    .by_email
                    .entry(email.to_lowercase())
                    .or_default()
                    .push(&u.id);
            }
            if let Some(name) = &u.username {
                links.by_username.entry(name).or_default().push(&u.id);
            }
        }
        links
    }

    /// The one user with the account's email, else the one with its
    /// username; none when there is no such user or more than one.
    fn find(&self, account: &ListedAccount) -> Option<&'u str> {
        let only = |found: Option<&Vec<&'u str>>| match found.map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => None,
        };
        let email = account.email.as_ref().map(|e| e.to_lowercase());
        email.and_then(|e| only(self.by_email.get(&e))).or_else(|| {
            account
                .username
                .as_deref()
                .and_then(|n| only(self.by_username.get(n)))
        })
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
