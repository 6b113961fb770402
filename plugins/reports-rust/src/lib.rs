//! Who reports to a user (world `function` of `keystep:plugin@0.2.0`, the
//! first plugin built against it): given `{"user_id": ID, "depth": N}`
//! (`depth` 1 by default), answers `{"user": ID, "manager": ID or null,
//! "reports": [ID, ...]}` through the directory's `list-reports`, new in
//! 0.2.0. The plugins built against 0.1.0 run beside it unchanged.

wit_bindgen::generate!({
    path: "../../wit/v0.2.0",
    world: "function",
});

use keystep::plugin::directory;
use serde_json::{Value, json};

struct Reports;

impl Guest for Reports {
    fn call(input: String) -> Result<String, Error> {
        let input: Value =
            serde_json::from_str(&input).map_err(|e| invalid(&format!("input is not JSON ({e})")))?;
        let Some(id) = input.get("user_id").and_then(Value::as_str) else {
            return Err(invalid("no user_id"));
        };
        let depth = input.get("depth").and_then(Value::as_u64).unwrap_or(1);
        let depth = u32::try_from(depth).map_err(|_| invalid("depth is too large"))?;
        let Some(user) = directory::get_user(id)? else {
            return Err(Error {
                code: "not-found".into(),
                message: format!("no user {id}"),
                retryable: false,
            });
        };
        let user: Value = serde_json::from_str(&user).map_err(|e| internal(&e))?;
        let mut reports = Vec::new();
        for report in directory::list_reports(id, depth)? {
            let report: Value = serde_json::from_str(&report).map_err(|e| internal(&e))?;
            reports.push(report["id"].clone());
        }
        Ok(json!({ "user": id, "manager": user["manager_id"], "reports": reports }).to_string())
    }
}

fn invalid(why: &str) -> Error {
    Error {
        code: "invalid-argument".into(),
        message: format!("{why}: expected {{\"user_id\": ID, \"depth\": N}}"),
        retryable: false,
    }
}

fn internal(e: &serde_json::Error) -> Error {
    Error {
        code: "internal".into(),
        message: format!("the directory answered with something that is not JSON: {e}"),
        retryable: false,
    }
}

export!(Reports);
