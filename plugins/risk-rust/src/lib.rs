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

mod scoring;

struct Risk;

impl Guest for Risk {
    fn call(input: String) -> Result<String, Error> {
        // `user_id` wins over `user`, in every language.
        if !input.contains("user_id")
            && let Some(output) = scoring::score(&input)
        {
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
        Ok(scoring::score(&normalized(&user, &grants)).expect("normalized input scores"))
    }
}

/// The input in the shape the scorer reads: string fields as strings ("" when
/// missing or of another type), and whether the user has a manager.
fn normalized(user: &Value, grants: &[Value]) -> String {
    let grants: Vec<Value> = grants
        .iter()
        .map(|g| json!({"entitlement": text(&g["entitlement"]), "slug": text(&g["slug"])}))
        .collect();
    let manager = (!user["manager_id"].is_null()).then_some(true);
    json!({
        "user": {"id": user["id"], "status": text(&user["status"]), "manager_id": manager},
        "grants": grants,
    })
    .to_string()
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
