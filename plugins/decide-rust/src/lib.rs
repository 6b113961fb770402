//! An access decision (world `function`), the serve benchmark's small
//! workflow: given `{"user": {...}, "entitlements": ["app:slug", ...]}`,
//! counts the entitlements, finds the `*:admin` ones, and decides
//! `approve` (no admin, at most 10 entitlements) or `review`, with a
//! message saying why. `../decide-js` decides identically.

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "function",
});

use serde_json::{Value, json};

/// More entitlements than this go to review.
const MOST_APPROVED: usize = 10;

struct Decide;

impl Guest for Decide {
    fn call(input: String) -> Result<String, Error> {
        let input: Value =
            serde_json::from_str(&input).map_err(|e| invalid(&format!("input is not JSON ({e})")))?;
        let Some(user) = input.get("user").filter(|u| u.is_object()) else {
            return Err(invalid("no user object"));
        };
        let Some(entitlements) = input.get("entitlements").and_then(Value::as_array) else {
            return Err(invalid("no entitlements list"));
        };
        let names: Vec<&str> = entitlements.iter().filter_map(Value::as_str).collect();
        let admin: Vec<&str> = names.iter().copied().filter(|e| e.ends_with(":admin")).collect();
        let who = user
            .get("display_name")
            .or_else(|| user.get("id"))
            .and_then(Value::as_str)
            .unwrap_or("someone");
        let (decision, message) = if !admin.is_empty() {
            ("review", format!("{who} asks for {} admin entitlement(s): {}", admin.len(), admin.join(", ")))
        } else if names.len() > MOST_APPROVED {
            ("review", format!("{who} asks for {} entitlements, over {MOST_APPROVED}", names.len()))
        } else {
            ("approve", format!("{who} asks for {} entitlement(s), none admin", names.len()))
        };
        Ok(json!({
            "decision": decision,
            "count": names.len(),
            "admin": admin,
            "message": message,
        })
        .to_string())
    }
}

fn invalid(why: &str) -> Error {
    Error {
        code: "invalid-argument".into(),
        message: format!("{why}: expected {{\"user\": USER, \"entitlements\": [\"app:slug\", ...]}}"),
        retryable: false,
    }
}

export!(Decide);
