//! Reading resolved step input: user references, entitlement sets, words.

use serde_json::{Map, Value as Json};

use super::StepCx;
use crate::directory::{Grant, Selector, User};
use crate::error::Error;
use crate::expr::Template;

/// A required string field.
pub fn text<'a>(input: &'a Map<String, Json>, field: &str) -> Result<&'a str, Error> {
    input.get(field).and_then(Json::as_str).ok_or_else(|| {
        Error::fatal(format!(
            "`{field}` must be text, got {}",
            shown(input.get(field))
        ))
    })
}

fn shown(value: Option<&Json>) -> String {
    value.map_or_else(|| "nothing".into(), Json::to_string)
}

/// Whether the value at `field` (dotted for a nested key, as in
/// `action.reassign`), item `index` of a list, was written literally in the
/// file. Only a literal value can be a keyword (`subject`, `all`); a value an
/// expression produced is always data, so input cannot turn a user id into
/// "the subject" or an entitlement into "everything".
fn written(cx: &StepCx, field: &str, index: Option<usize>) -> bool {
    let mut keys = field.split('.');
    let Some(mut template) = keys
        .next()
        .and_then(|name| cx.def.field(name))
        .map(|f| &f.template)
    else {
        return false;
    };
    for key in keys {
        template = match template {
            Template::Literal(_) => return true,
            Template::Map(entries) => match entries.iter().find(|(k, _)| k == key) {
                Some((_, t)) => t,
                None => return false,
            },
            _ => return false,
        };
    }
    match (template, index) {
        (Template::Literal(_), _) => true,
        (Template::List(items), Some(i)) => matches!(items.get(i), Some(Template::Literal(_))),
        _ => false,
    }
}

/// Whether `value` (at `field`, item `index`) is the keyword `word` written
/// literally in the file.
fn keyword(cx: &StepCx, value: &Json, word: &str, field: &str, index: Option<usize>) -> bool {
    value.as_str() == Some(word) && written(cx, field, index)
}

/// Whether the field, or an item of its list, is the literal keyword `word`.
pub fn names_keyword(cx: &StepCx, input: &Map<String, Json>, field: &str, word: &str) -> bool {
    match input.get(field) {
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .any(|(i, v)| keyword(cx, v, word, field, Some(i))),
        Some(v) => keyword(cx, v, word, field, None),
        None => false,
    }
}

/// Resolves one user reference (item `index` of a list, if it is one):
/// `subject` written in the file, a user id, or a user object
/// (`{{ ctx.trigger.user }}`).
pub fn user_ref(
    cx: &StepCx,
    value: &Json,
    field: &str,
    index: Option<usize>,
) -> Result<User, Error> {
    let id = match value {
        v if keyword(cx, v, "subject", field, index) => cx.run.subject.clone().ok_or_else(|| {
            Error::fatal(format!(
                "`{field}: subject`, but this run has no subject user (give user_id in the input)"
            ))
        })?,
        Json::String(s) => s.clone(),
        Json::Object(o) => match o.get("id").and_then(Json::as_str) {
            Some(id) => id.to_string(),
            None => {
                return Err(Error::fatal(format!(
                    "`{field}`: a user object needs an `id`"
                )));
            }
        },
        other => {
            return Err(Error::fatal(format!(
                "`{field}` must be `subject` or a user id, got {other}"
            )));
        }
    };
    cx.dir.user(&id)?.ok_or_else(|| {
        let hint = if id == "subject" {
            " (`subject` means the run's subject only when written in the file, not when an expression gives it)"
        } else {
            ""
        };
        Error::fatal(format!("`{field}`: unknown user `{id}`{hint}"))
    })
}

/// The user a field names.
pub fn user(cx: &StepCx, input: &Map<String, Json>, field: &str) -> Result<User, Error> {
    match input.get(field) {
        Some(v) => user_ref(cx, v, field, None),
        None => Err(Error::fatal(format!("missing `{field}`"))),
    }
}

/// The users a field names: one reference or a list of them.
pub fn users(cx: &StepCx, input: &Map<String, Json>, field: &str) -> Result<Vec<User>, Error> {
    match input.get(field) {
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| user_ref(cx, v, field, Some(i)))
            .collect(),
        Some(v) => Ok(vec![user_ref(cx, v, field, None)?]),
        None => Err(Error::fatal(format!("missing `{field}`"))),
    }
}

/// One element of an entitlement set.
enum Pick {
    All,
    Id(String),
    Select(Selector),
}

fn picks(cx: &StepCx, value: &Json, field: &str) -> Result<Vec<Pick>, Error> {
    let one = |v: &Json, index: Option<usize>| -> Result<Pick, Error> {
        match v {
            v if keyword(cx, v, "all", field, index) => Ok(Pick::All),
            Json::String(s) => Ok(Pick::Id(s.clone())),
            Json::Object(_) => serde_json::from_value(v.clone())
                .map(Pick::Select)
                .map_err(|e| Error::fatal(format!("`{field}`: bad selector {v}: {e}"))),
            other => Err(Error::fatal(format!(
                "`{field}`: expected an entitlement id or a selector, got {other}"
            ))),
        }
    };
    match value {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| one(v, Some(i)))
            .collect(),
        Json::Null => Ok(Vec::new()),
        v => Ok(vec![one(v, None)?]),
    }
}

/// Which of `held` an entitlement set (`all`, ids, selectors, or a list of
/// them) picks, and the ids it names that are not held.
pub fn pick_held<'g>(
    cx: &StepCx,
    held: &'g [Grant],
    value: &Json,
    field: &str,
) -> Result<(Vec<&'g Grant>, Vec<String>), Error> {
    let picks = picks(cx, value, field)?;
    let chosen = held
        .iter()
        .filter(|g| {
            picks.iter().any(|p| match p {
                Pick::All => true,
                Pick::Id(id) => *id == g.entitlement_id,
                Pick::Select(s) => s.matches(&g.app_id, &g.resource_type, g.resource.as_deref()),
            })
        })
        .collect();
    let missing = picks
        .iter()
        .filter_map(|p| match p {
            Pick::Id(id) if !held.iter().any(|g| g.entitlement_id == *id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    Ok((chosen, missing))
}

/// The entitlement ids a grant-style field names; every one must exist.
pub fn entitlement_ids(cx: &StepCx, value: &Json, field: &str) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    for pick in picks(cx, value, field)? {
        match pick {
            Pick::Id(id) => {
                cx.dir.require_entitlement(&id)?;
                ids.push(id);
            }
            Pick::Select(s) => ids.extend(
                cx.dir
                    .entitlements()?
                    .into_iter()
                    .filter(|e| s.matches(&e.app_id, &e.resource_type, e.resource.as_deref()))
                    .map(|e| e.id),
            ),
            Pick::All => {
                return Err(Error::fatal(format!(
                    "`{field}: all` is not allowed here; name the entitlements"
                )));
            }
        }
    }
    ids.dedup();
    Ok(ids)
}

/// Strings from a string or a list of strings.
pub fn words(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
