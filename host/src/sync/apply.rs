//! A sync's plan read and written: what the directory holds for the app,
//! and each change made through the directory's changes, with its event.

use serde::Serialize;
use serde_json::json;

use super::plan::{Change, Current, Plan, Skipped};
use crate::directory::{Account, DirError, DirectoryChanges, DirectoryReads};

/// What the directory holds for `app`.
pub fn current(dir: &dyn DirectoryReads, app: &str) -> Result<Current, DirError> {
    Ok(Current {
        accounts: dir.accounts_in(app)?,
        entitlements: dir.entitlements_in(app)?,
        grants: dir.grants_in(app)?,
        users: dir.users()?,
    })
}

/// How many of each change, and what was left as it was.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub accounts_created: usize,
    pub accounts_updated: usize,
    pub accounts_marked_deleted: usize,
    pub entitlements_created: usize,
    pub entitlements_updated: usize,
    pub entitlements_removed: usize,
    /// No longer listed, but a task or an access profile names them.
    pub entitlements_kept: Vec<String>,
    pub grants_added: usize,
    pub grants_removed: usize,
    pub skipped: Skipped,
}

impl Summary {
    /// One line for people: the counts that are not zero.
    pub fn describe(&self) -> String {
        let counts = [
            (self.accounts_created, "accounts created"),
            (self.accounts_updated, "accounts updated"),
            (self.accounts_marked_deleted, "accounts marked deleted"),
            (self.entitlements_created, "entitlements created"),
            (self.entitlements_updated, "entitlements updated"),
            (self.entitlements_removed, "entitlements removed"),
            (
                self.entitlements_kept.len(),
                "entitlements kept (still named)",
            ),
            (self.grants_added, "grants added"),
            (self.grants_removed, "grants removed"),
        ];
        let said: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if said.is_empty() {
            "no changes".into()
        } else {
            said.join(", ")
        }
    }
}

/// Makes every change of `plan`, in order.
pub fn apply(dir: &dyn DirectoryChanges, plan: &Plan) -> Result<Summary, DirError> {
    let mut s = Summary {
        skipped: plan.skipped,
        ..Summary::default()
    };
    for change in &plan.changes {
        match change {
            Change::EntitlementCreated { entitlement } => {
                dir.put_entitlement(entitlement)?;
                s.entitlements_created += 1;
            }
            Change::EntitlementUpdated { entitlement } => {
                dir.put_entitlement(entitlement)?;
                s.entitlements_updated += 1;
            }
            Change::AccountCreated { account } => {
                dir.put_account(&account_json(account))?;
                s.accounts_created += 1;
            }
            Change::AccountUpdated { account } => {
                dir.put_account(&account_json(account))?;
                s.accounts_updated += 1;
            }
            Change::AccountGone { account } => {
                dir.put_account(&account_json(account))?;
                s.accounts_marked_deleted += 1;
            }
            Change::GrantAdded {
                user_id,
                entitlement_id,
            } => {
                dir.add_grant(user_id, entitlement_id, "sync")?;
                s.grants_added += 1;
            }
            Change::GrantRemoved {
                user_id,
                entitlement_id,
            } => {
                dir.remove_grant(user_id, entitlement_id)?;
                s.grants_removed += 1;
            }
            Change::EntitlementGone { entitlement_id } => {
                match dir.remove_entitlement(entitlement_id)? {
                    true => s.entitlements_removed += 1,
                    false => s.entitlements_kept.push(entitlement_id.clone()),
                }
            }
        }
    }
    Ok(s)
}

/// An account as [`DirectoryChanges::put_account`] takes it.
fn account_json(a: &Account) -> serde_json::Value {
    json!({
        "id": a.id, "app": a.app_id, "user": a.user_id, "username": a.username,
        "email": a.email, "status": a.status, "attributes": a.attributes,
    })
}
