//! The decision, and the shapes it reads: plain Rust, no host calls, so
//! `cargo test` runs it natively.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The function's input.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub user_id: String,
    /// `APP:SLUG`, as in the directory: `github:admin`.
    pub entitlement: String,
}

/// A user, as `directory::get_user` answers it. (Every field is here, to
/// show the shape; the example reads a few.)
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub username: Option<String>,
    /// `active`, `disabled`, `inactive` or `deleted`.
    pub status: String,
    pub manager_id: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// A grant the user holds, as `directory::list_grants` answers it.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
pub struct Grant {
    /// `APP:SLUG`.
    pub entitlement: String,
    pub app: String,
    pub slug: String,
    pub name: Option<String>,
    pub resource_type: Option<String>,
    pub resource: Option<String>,
    /// Who added it: `import`, `sync`, a run.
    pub source: Option<String>,
    pub granted_at: Option<String>,
}

/// The function's output.
#[derive(Debug, PartialEq, Serialize)]
pub struct Decision {
    pub user: String,
    pub entitlement: String,
    /// `approve`, `review` or `deny`.
    pub decision: &'static str,
    pub reasons: Vec<String>,
    /// How many grants the user holds.
    pub grants: usize,
}

/// Slugs containing one of these words are privileged.
const PRIVILEGED: [&str; 3] = ["admin", "owner", "root"];

/// Deny a user who is not active; approve what they already hold; review
/// a privileged entitlement or a user without a manager; approve the rest.
pub fn decide(request: &Request, user: &User, grants: &[Grant]) -> Result<Decision, String> {
    let Some((_app, slug)) = request.entitlement.split_once(':') else {
        return Err(format!(
            "entitlement {:?} is not APP:SLUG",
            request.entitlement
        ));
    };
    let entitlement = &request.entitlement;
    let (decision, reasons) = if user.status != "active" {
        ("deny", vec![format!("{} is {}", user.id, user.status)])
    } else if grants.iter().any(|g| &g.entitlement == entitlement) {
        (
            "approve",
            vec![format!("{} already holds {entitlement}", user.id)],
        )
    } else {
        let mut reasons = Vec::new();
        if PRIVILEGED.iter().any(|word| slug.contains(word)) {
            reasons.push(format!("{entitlement} is privileged"));
        }
        if user.manager_id.is_none() {
            reasons.push(format!("{} has no manager to approve", user.id));
        }
        if reasons.is_empty() {
            ("approve", vec![format!("{entitlement} is not privileged")])
        } else {
            ("review", reasons)
        }
    };
    Ok(Decision {
        user: user.id.clone(),
        entitlement: entitlement.clone(),
        decision,
        reasons,
        grants: grants.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: &str) -> User {
        serde_json::from_str(json).unwrap()
    }

    fn ask(entitlement: &str) -> Request {
        Request {
            user_id: "u-ada".into(),
            entitlement: entitlement.into(),
        }
    }

    const ADA: &str = r#"{"id": "u-ada", "status": "active", "manager_id": "u-grace"}"#;

    #[test]
    fn a_privileged_entitlement_is_reviewed() {
        let d = decide(&ask("github:admin"), &user(ADA), &[]).unwrap();
        assert_eq!(d.decision, "review");
        assert_eq!(d.reasons, ["github:admin is privileged"]);
    }

    #[test]
    fn what_is_held_is_approved_and_a_disabled_user_denied() {
        let held: Grant = serde_json::from_str(
            r#"{"entitlement": "github:admin", "app": "github", "slug": "admin"}"#,
        )
        .unwrap();
        let d = decide(&ask("github:admin"), &user(ADA), &[held]).unwrap();
        assert_eq!((d.decision, d.grants), ("approve", 1));
        let disabled = user(r#"{"id": "u-ada", "status": "disabled"}"#);
        assert_eq!(
            decide(&ask("github:wiki"), &disabled, &[])
                .unwrap()
                .decision,
            "deny"
        );
    }

    #[test]
    fn an_entitlement_must_name_its_app() {
        assert!(decide(&ask("admin"), &user(ADA), &[]).is_err());
    }
}
