//! {{name}}: a keystep function (world `function` of keystep:plugin@0.1.0).
//!
//! It decides whether a request for an entitlement can be approved at once,
//! needs a review, or must be denied, from the user and the grants keystep's
//! directory holds:
//!
//! ```text
//! in:  {"user_id": "u-ada", "entitlement": "github:admin"}
//! out: {"user": "u-ada", "entitlement": "github:admin", "decision": "review",
//!       "reasons": ["github:admin is privileged"], "grants": 1}
//! ```
//!
//! This file is the glue to the host (reading the input, the directory and
//! logging); `decide.rs` is the decision, plain Rust that `cargo test` tests.
//! Failures are typed errors: `invalid-argument` for bad input, `not-found`
//! for an unknown user, and a host error passed on unchanged.

wit_bindgen::generate!({ path: "wit", world: "function" });

mod decide;

use decide::{Grant, Request, User};
use keystep::plugin::types::Level;
use keystep::plugin::{directory, host};

struct Plugin;

impl Guest for Plugin {
    fn call(input: String) -> Result<String, Error> {
        let request: Request = serde_json::from_str(&input).map_err(|e| {
            error(
                "invalid-argument",
                format!("{e}: expected {{\"user_id\": ID, \"entitlement\": \"APP:SLUG\"}}"),
            )
        })?;
        // A host error (the directory unavailable) passes through `?`.
        let Some(user) = directory::get_user(&request.user_id)? else {
            return Err(error("not-found", format!("no user {}", request.user_id)));
        };
        let user: User = parse(&user)?;
        let grants = directory::list_grants(&user.id)?
            .iter()
            .map(|g| parse::<Grant>(g))
            .collect::<Result<Vec<_>, _>>()?;
        let decision = decide::decide(&request, &user, &grants)
            .map_err(|why| error("invalid-argument", why))?;
        host::log(
            Level::Info,
            &format!(
                "{}: {} for {}",
                request.entitlement, decision.decision, user.id
            ),
        );
        serde_json::to_string(&decision).map_err(|e| error("internal", e.to_string()))
    }
}

/// A document the directory answered, in its typed shape.
fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Error> {
    serde_json::from_str(json)
        .map_err(|e| error("internal", format!("the directory answered {json}: {e}")))
}

fn error(code: &str, message: String) -> Error {
    Error {
        code: code.into(),
        message,
        retryable: false,
    }
}

export!(Plugin);
