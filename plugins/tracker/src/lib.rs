//! A connector (world `connector-plugin`) for Tracker, a small project
//! tracker with users and groups (tests/servers/tracker.py plays it in
//! tests).
//!
//! Configuration: `{"base_url": "http://127.0.0.1:PORT"}`; the secret
//! `tracker_token` is sent as `Authorization: Bearer <token>`. A group is both
//! a resource and an entitlement (its membership).

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "connector-plugin",
});

use exports::keystep::plugin::connector::{
    AccessChange, Account, AccountRequest, ActionSchema, Capability, ConnectorInfo, Guest, Page,
    SyncKind,
};
use keystep::plugin::host;
use keystep::plugin::types::Error;
use serde_json::{Value, json};

struct Tracker;

impl Guest for Tracker {
    fn info() -> ConnectorInfo {
        let login = json!({"type": "string", "minLength": 1});
        ConnectorInfo {
            name: "tracker".into(),
            version: "0.1.0".into(),
            description: "Tracker, a project tracker: users, groups and group membership".into(),
            capabilities: vec![
                Capability::Sync,
                Capability::Provision,
                Capability::AccountProvisioning,
                Capability::Actions,
            ],
            actions: vec![
                ActionSchema {
                    name: "lock-account".into(),
                    description: "Locks a Tracker account so that it can no longer sign in".into(),
                    arguments: json!({
                        "type": "object",
                        "properties": {"login": login, "reason": {"type": "string"}},
                        "required": ["login"],
                        "additionalProperties": false,
                    })
                    .to_string(),
                },
                ActionSchema {
                    name: "unlock-account".into(),
                    description: "Unlocks a locked Tracker account".into(),
                    arguments: json!({
                        "type": "object",
                        "properties": {"login": login},
                        "required": ["login"],
                        "additionalProperties": false,
                    })
                    .to_string(),
                },
            ],
            account_schema: Some(
                json!({
                    "type": "object",
                    "properties": {
                        "login": {"type": "string", "pattern": "^[a-z][a-z0-9.-]*$"},
                        "email": {"type": "string"},
                        "name": {"type": "string"},
                    },
                    "required": ["login", "email"],
                    "additionalProperties": false,
                })
                .to_string(),
            ),
        }
    }

    fn sync(kind: SyncKind, cursor: Option<String>) -> Result<Page, Error> {
        let api = Api::new()?;
        let (items, next) = match kind {
            SyncKind::Users => {
                let (users, next) = api.list("/api/users", "users", cursor.as_deref())?;
                let users = users.iter().map(|u| {
                    let active = u["active"].as_bool().unwrap_or(true);
                    json!({
                        "id": u["login"],
                        "email": u["email"],
                        "display_name": u["name"],
                        "status": if active { "active" } else { "disabled" },
                    })
                });
                (users.collect(), next)
            }
            SyncKind::Resources => {
                let (groups, next) = api.list("/api/groups", "groups", cursor.as_deref())?;
                let groups = groups
                    .iter()
                    .map(|g| json!({"id": g["slug"], "type": "group", "display_name": g["name"]}));
                (groups.collect(), next)
            }
            SyncKind::Entitlements => {
                let (groups, next) = api.list("/api/groups", "groups", cursor.as_deref())?;
                let groups = groups.iter().map(|g| {
                    json!({
                        "slug": g["slug"],
                        "resource": g["slug"],
                        "display_name": format!("{} member", text(&g["name"])),
                    })
                });
                (groups.collect(), next)
            }
            SyncKind::Grants => {
                let (groups, next) = api.list("/api/groups", "groups", cursor.as_deref())?;
                let mut grants = Vec::new();
                for group in &groups {
                    let slug = text(&group["slug"]);
                    let path = format!("/api/groups/{}/members", segment(slug));
                    let members = api.call("GET", &path, None, None)?;
                    for login in members["members"].as_array().into_iter().flatten() {
                        grants.push(json!({"user": login, "entitlement": slug}));
                    }
                }
                (grants, next)
            }
        };
        Ok(Page {
            items: items.iter().map(Value::to_string).collect(),
            next_cursor: next,
        })
    }

    fn grant(change: AccessChange) -> Result<String, Error> {
        let api = Api::new()?;
        let login = login_of(&change)?;
        let path = membership(&change.entitlement, &login);
        api.call("PUT", &path, None, Some(&change.idempotency_key))?;
        Ok(json!({"group": change.entitlement, "login": login}).to_string())
    }

    fn revoke(change: AccessChange) -> Result<String, Error> {
        let api = Api::new()?;
        let login = login_of(&change)?;
        let path = membership(&change.entitlement, &login);
        let (status, body) = api.send("DELETE", &path, None, Some(&change.idempotency_key))?;
        if status == 404 {
            return Ok(
                json!({"group": change.entitlement, "login": login, "already": true}).to_string(),
            );
        }
        check("DELETE", &path, status, &body)?;
        Ok(json!({"group": change.entitlement, "login": login}).to_string())
    }

    fn create_account(request: AccountRequest) -> Result<Account, Error> {
        let api = Api::new()?;
        let fields: Value = serde_json::from_str(&request.fields)
            .map_err(|e| invalid(format!("account fields are not JSON: {e}")))?;
        let login = fields["login"]
            .as_str()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| invalid("account fields have no login".into()))?
            .to_string();
        let mut body = json!({"login": login, "email": fields["email"]});
        if let Some(name) = fields.get("name") {
            body["name"] = name.clone();
        }
        let path = "/api/users";
        let (status, answer) =
            api.send("POST", path, Some(&body), Some(&request.idempotency_key))?;
        let (profile, already_existed) = if status == 409 && answer["user"].is_object() {
            (answer["user"].clone(), true)
        } else {
            check("POST", path, status, &answer)?;
            (answer, false)
        };
        Ok(Account {
            id: login.clone(),
            login,
            profile: profile.to_string(),
            already_existed,
        })
    }

    fn invoke_action(
        name: String,
        arguments: String,
        idempotency_key: String,
    ) -> Result<String, Error> {
        let arguments: Value = serde_json::from_str(&arguments)
            .map_err(|e| invalid(format!("arguments are not JSON: {e}")))?;
        let (verb, body) = match name.as_str() {
            "lock-account" => ("lock", json!({"reason": arguments["reason"]})),
            "unlock-account" => ("unlock", json!({})),
            other => return Err(invalid(format!("tracker has no action {other:?}"))),
        };
        let login = arguments["login"]
            .as_str()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| invalid(format!("{name} needs a login")))?;
        let api = Api::new()?;
        let path = format!("/api/users/{}/{verb}", segment(login));
        let answer = api.call("POST", &path, Some(&body), Some(&idempotency_key))?;
        Ok(answer.to_string())
    }
}

/// The Tracker API: where it is and the token for it.
struct Api {
    base_url: String,
    token: String,
}

impl Api {
    fn new() -> Result<Api, Error> {
        let config: Value = serde_json::from_str(&host::config()).unwrap_or(Value::Null);
        let base_url = config["base_url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("the tracker config has no base_url".into()))?
            .trim_end_matches('/')
            .to_string();
        let token = host::secret("tracker_token")?;
        Ok(Api { base_url, token })
    }

    /// Sends a request; answers the status and the body as JSON (null when
    /// the body is empty or not JSON). Fails only when the request does.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), Error> {
        let mut headers = vec![
            (
                "Authorization".to_string(),
                format!("Bearer {}", self.token),
            ),
            ("Accept".to_string(), "application/json".to_string()),
        ];
        if body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        if let Some(key) = idempotency_key {
            headers.push(("Idempotency-Key".into(), key.into()));
        }
        let request = host::HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.base_url),
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
            timeout_ms: None,
        };
        let response = host::http_fetch(&request).map_err(|e| {
            if e.code == "unavailable" {
                Error {
                    code: e.code,
                    message: format!("tracker: {method} {path}: {}", e.message),
                    retryable: true,
                }
            } else {
                e
            }
        })?;
        let answer = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((response.status, answer))
    }

    /// Sends a request and fails unless the answer is a 2xx.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Error> {
        let (status, answer) = self.send(method, path, body, idempotency_key)?;
        check(method, path, status, &answer)?;
        Ok(answer)
    }

    /// One page of a listing at `path`, whose answer holds the list under
    /// `key` and the next cursor under `next`.
    fn list(
        &self,
        path: &str,
        key: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), Error> {
        let path = match cursor {
            Some(cursor) => format!("{path}?cursor={}", segment(cursor)),
            None => path.to_string(),
        };
        let mut answer = self.call("GET", &path, None, None)?;
        let items = match answer[key].take() {
            Value::Array(items) => items,
            _ => {
                return Err(Error {
                    code: "internal".into(),
                    message: format!("tracker: GET {path} answered without a {key:?} list"),
                    retryable: false,
                });
            }
        };
        let next = match &answer["next"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Ok((items, next))
    }
}

/// Maps a non-2xx answer to an error naming the status and Tracker's message.
fn check(method: &str, path: &str, status: u16, answer: &Value) -> Result<(), Error> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let (code, retryable) = match status {
        500.. => ("unavailable", true),
        401 | 403 => ("denied", false),
        404 => ("not-found", false),
        409 => ("already-exists", false),
        400..=499 => ("invalid-argument", false),
        _ => ("internal", false),
    };
    let why = answer["error"].as_str().unwrap_or("no error message");
    Err(Error {
        code: code.into(),
        message: format!("tracker: {method} {path} answered {status}: {why}"),
        retryable,
    })
}

/// The user's Tracker login: the directory username, else the account id,
/// else the local part of the email.
fn login_of(change: &AccessChange) -> Result<String, Error> {
    let user: Value = serde_json::from_str(&change.user).unwrap_or(Value::Null);
    let from_email = text(&user["email"]).split('@').next().unwrap_or("");
    [
        text(&user["username"]),
        change.account_id.as_deref().unwrap_or(""),
        from_email,
    ]
    .into_iter()
    .find(|l| !l.is_empty())
    .map(str::to_string)
    .ok_or_else(|| invalid("the user has no username, account id or email".into()))
}

fn membership(group: &str, login: &str) -> String {
    format!("/api/groups/{}/members/{}", segment(group), segment(login))
}

/// Percent-encodes everything but unreserved characters, for a path segment
/// or a query value.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn invalid(message: String) -> Error {
    Error {
        code: "invalid-argument".into(),
        message,
        retryable: false,
    }
}

export!(Tracker);
