//! A risk scorer (world `function`): scores a user from the grants they hold.
//!
//! Input is `{"user_id": "u-ada"}` (the user and their grants are read from
//! keystep's directory) or `{"user": {...}, "grants": [...]}` given inline.
//! The Python and JavaScript versions beside this one score identically.

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "function",
});

use keystep::plugin::types::Level;
use keystep::plugin::{directory, host};
use serde_json::{Value, json};

mod fast;

struct Risk;

impl Guest for Risk {
    fn call(input: String) -> Result<String, Error> {
        if let Some(output) = fast::score(&input) {
            return Ok(output);
        }
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| invalid(&format!("input is not JSON ({e})")))?;
        let Some(input) = input.as_object() else {
            return Err(invalid("input is not an object"));
        };
        let (user, grants) = if let Some(id) = input.get("user_id") {
            let Some(id) = id.as_str() else {
                return Err(invalid("user_id is not a string"));
            };
            let Some(user) = directory::get_user(id)? else {
                return Err(Error {
                    code: "not-found".into(),
                    message: format!("no user {id}"),
                    retryable: false,
                });
            };
            let user = parse(&user)?;
            let grants = directory::list_grants(id)?
                .iter()
                .map(|g| parse(g))
                .collect::<Result<Vec<_>, _>>()?;
            (user, grants)
        } else if let Some(user) = input.get("user") {
            let grants = match input.get("grants") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(grants)) => grants.clone(),
                Some(_) => return Err(invalid("grants is not a list")),
            };
            (user.clone(), grants)
        } else {
            return Err(invalid("neither user_id nor user given"));
        };
        if !user.is_object() {
            return Err(invalid("user is not an object"));
        }
        let result = score(&user, &grants);
        host::log(
            Level::Info,
            &format!("scored {}: {}", text(&result["user"]), result["score"]),
        );
        Ok(result.to_string())
    }
}

/// The score, identical in the Python and JavaScript versions.
fn score(user: &Value, grants: &[Value]) -> Value {
    let mut total: i64 = 0;
    let mut reasons = Vec::new();
    let mut scored = Vec::new();
    for grant in grants {
        let entitlement = text(&grant["entitlement"]);
        let slug = text(&grant["slug"]);
        let points = if ["admin", "owner", "root"].iter().any(|w| slug.contains(w)) {
            reasons.push(format!("{entitlement} is privileged"));
            30
        } else if ["write", "maintain", "deploy", "billing"]
            .iter()
            .any(|w| slug.contains(w))
        {
            reasons.push(format!("{entitlement} can change things"));
            10
        } else {
            2
        };
        total += points;
        scored.push(json!({"entitlement": entitlement, "points": points}));
    }
    let status = text(&user["status"]);
    if status != "active" && !grants.is_empty() {
        total += 25;
        reasons.push(format!("{status} user still holds {} grants", grants.len()));
    }
    if user["manager_id"].is_null() {
        total += 5;
        reasons.push("no manager".to_string());
    }
    let total = total.min(100);
    let level = if total >= 60 {
        "high"
    } else if total >= 25 {
        "medium"
    } else {
        "low"
    };
    json!({
        "user": user["id"],
        "score": total,
        "level": level,
        "grants": grants.len(),
        "reasons": reasons,
        "scored": scored,
    })
}

/// A string field, or "" when it is missing or not a string.
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn parse(json: &str) -> Result<Value, Error> {
    serde_json::from_str(json).map_err(|e| Error {
        code: "internal".into(),
        message: format!("the directory returned bad JSON: {e}"),
        retryable: false,
    })
}

fn invalid(why: &str) -> Error {
    Error {
        code: "invalid-argument".into(),
        message: format!(
            "{why}: expected {{\"user_id\": ID}} or {{\"user\": USER, \"grants\": [GRANT, ...]}}"
        ),
        retryable: false,
    }
}

export!(Risk);
