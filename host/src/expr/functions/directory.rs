//! `directory.*`: reading the directory from an expression — a user, their
//! manager and reports, their grants — so that `if:` and `when:` can ask
//! "is this person a manager?" or "do they still hold admin?".
//!
//! The expression layer knows no database: an evaluation is handed a
//! [`Lookup`] (the store implements it) and the functions here build on its
//! few reads. A user argument is a user id or a user (a map with an `id`,
//! as `ctx.trigger.user` is). Walking the manager graph keeps the users it
//! has met, so a cycle (`a` manages `b` manages `a`) ends the walk instead
//! of looping, and every read is charged to the evaluation's budget.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use cel::Value;
use serde_json::Value as Json;

use super::{text, whole};
use crate::expr::budget;

/// Units of work one read of the directory costs, besides what it returns.
pub const READ_COST: u64 = 20;

/// The reads the directory functions are built on. Users, grants and
/// accounts come as the directory's JSON (`User`, `Grant`, `Account`).
pub trait Lookup: Send + Sync {
    fn user(&self, id: &str) -> Result<Option<Json>, String>;
    /// The user with this email, whatever its case.
    fn user_by_email(&self, email: &str) -> Result<Option<Json>, String>;
    /// The users whose manager is `manager`.
    fn reports(&self, manager: &str) -> Result<Vec<Json>, String>;
    fn grants(&self, user: &str) -> Result<Vec<Json>, String>;
    fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool, String>;
    /// The user's accounts, but those marked deleted.
    fn live_accounts(&self, user: &str) -> Result<Vec<Json>, String>;
    /// The users holding a grant of `entitlement`.
    fn holders(&self, entitlement: &str) -> Result<Vec<Json>, String>;
}

thread_local! {
    static DIRECTORY: RefCell<Option<Arc<dyn Lookup>>> = const { RefCell::new(None) };
}

/// Runs `f` (an evaluation) with `directory` as what the functions read.
pub(in crate::expr) fn with<T>(directory: Option<Arc<dyn Lookup>>, f: impl FnOnce() -> T) -> T {
    /// Puts the outer lookup back, even if `f` panics.
    struct Restore(Option<Arc<dyn Lookup>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DIRECTORY.set(self.0.take());
        }
    }
    let _restore = Restore(DIRECTORY.replace(directory));
    f()
}

/// Charges a read and runs it against this evaluation's directory.
fn read<T>(f: impl FnOnce(&dyn Lookup) -> Result<T, String>) -> Result<T, String> {
    budget::spend(READ_COST).map_err(|over| over.to_string())?;
    let directory = DIRECTORY.with_borrow(Clone::clone).ok_or(
        "the directory is not available here (directory functions work in a run's `if:`, `when:` and fields)",
    )?;
    f(&*directory)
}

fn cel(json: Json) -> Value {
    cel::to_value(json).unwrap_or(Value::Null)
}

fn list(items: Vec<Json>) -> Value {
    Value::List(Arc::new(items.into_iter().map(cel).collect()))
}

/// The id a user argument names: the id itself, or a user's `id`.
fn user_id(value: &Value) -> Result<String, String> {
    if let Value::Map(map) = value {
        let id = map.map.get(&cel::objects::Key::from("id".to_string()));
        return match id {
            Some(Value::String(id)) => Ok(id.to_string()),
            _ => Err("the user must be a user id or a user with an `id`".into()),
        };
    }
    text(value, "the user").map(str::to_string)
}

fn manager_id(user: &Json) -> Option<String> {
    user.get("manager_id")?.as_str().map(str::to_string)
}

pub(super) fn user(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    Ok(read(|d| d.user(&id))?.map_or(Value::Null, cel))
}

pub(super) fn find_by_email(args: &[Value]) -> Result<Value, String> {
    let email = text(&args[0], "the email")?;
    Ok(read(|d| d.user_by_email(email))?.map_or(Value::Null, cel))
}

pub(super) fn manager(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    let Some(manager) = read(|d| d.user(&id))?.as_ref().and_then(manager_id) else {
        return Ok(Value::Null);
    };
    Ok(read(|d| d.user(&manager))?.map_or(Value::Null, cel))
}

/// The user's manager, their manager, and so on up: it stops at the top,
/// at a manager missing from the directory, or where the chain comes back
/// to someone already in it.
pub(super) fn managers(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    let mut seen = HashSet::from([id.clone()]);
    let mut chain = Vec::new();
    let mut next = read(|d| d.user(&id))?.as_ref().and_then(manager_id);
    while let Some(id) = next.filter(|id| seen.insert(id.clone())) {
        let Some(manager) = read(|d| d.user(&id))? else {
            break;
        };
        next = manager_id(&manager);
        chain.push(manager);
    }
    Ok(list(chain))
}

/// The user's direct reports; with a depth, their reports too, down that
/// many levels. Each person appears once, the user never.
pub(super) fn reports(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    let depth = match args.get(1) {
        None => 1,
        Some(depth) => whole(depth, "the depth")?,
    };
    if depth < 1 {
        return Err(format!("the depth must be 1 or more, not {depth}"));
    }
    let mut seen = HashSet::from([id.clone()]);
    let mut found = Vec::new();
    let mut level = vec![id];
    for _ in 0..depth {
        let mut below = Vec::new();
        for manager in level {
            for report in read(|d| d.reports(&manager))? {
                let Some(id) = report.get("id").and_then(Json::as_str) else {
                    continue;
                };
                if seen.insert(id.to_string()) {
                    below.push(id.to_string());
                    found.push(report);
                }
            }
        }
        if below.is_empty() {
            break;
        }
        level = below;
    }
    Ok(list(found))
}

pub(super) fn grants(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    Ok(list(read(|d| d.grants(&id))?))
}

pub(super) fn has_entitlement(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    let entitlement = text(&args[1], "the entitlement")?;
    Ok(Value::Bool(read(|d| d.has_grant(&id, entitlement))?))
}

/// Whether the user holds a grant in the app or has an account there that
/// is not marked deleted.
pub(super) fn has_app(args: &[Value]) -> Result<Value, String> {
    let id = user_id(&args[0])?;
    let app = text(&args[1], "the app")?;
    let in_app = |item: &Json| item.get("app_id").and_then(Json::as_str) == Some(app);
    if read(|d| d.grants(&id))?.iter().any(in_app) {
        return Ok(Value::Bool(true));
    }
    Ok(Value::Bool(
        read(|d| d.live_accounts(&id))?.iter().any(in_app),
    ))
}

pub(super) fn entitlement_members(args: &[Value]) -> Result<Value, String> {
    let entitlement = text(&args[0], "the entitlement")?;
    Ok(list(read(|d| d.holders(entitlement))?))
}
