//! {{name}}: a keystep connector (world `connector-plugin` of
//! keystep:plugin@0.1.0) for an app with a JSON API of users; `mock_app.py`
//! plays one. Point it at yours in {{name}}.toml (`config.base_url`, the
//! secret `api_token`) and change the paths and shapes in `api.rs`.
//!
//! It offers two actions and creates accounts:
//!
//! - `get-account {account_id}`: GET /users/ID, the app's user;
//! - `suspend-account {account_id, reason?}`: POST /users/ID/suspend;
//! - `create-account` with fields `{login, email, name?}`: POST /users (a
//!   login the app already has is linked, `already-existed: true`).
//!
//! It does not sync, grant or revoke: it leaves those capabilities out of
//! `info` and answers them with the error code `unsupported`, as keystep
//! expects. Add them when your app has groups or roles to sync.

wit_bindgen::generate!({ path: "wit", world: "connector-plugin" });

mod api;

use api::{Api, invalid};
use exports::keystep::plugin::connector::{
    AccessChange, Account, AccountRequest, ActionSchema, Capability, ConnectorInfo, Guest, Page,
    SyncKind,
};
use keystep::plugin::host;
use keystep::plugin::types::{Error, Level};
use serde::Deserialize;
use serde_json::{Value, json};

struct Connector;

impl Guest for Connector {
    fn info() -> ConnectorInfo {
        let account_id = json!({"type": "string", "minLength": 1});
        ConnectorInfo {
            // Must be the component's file name: {{name}}.wasm.
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Accounts in an app with a JSON API of users".into(),
            capabilities: vec![Capability::AccountProvisioning, Capability::Actions],
            actions: vec![
                ActionSchema {
                    name: "get-account".into(),
                    description: "The app's record of an account".into(),
                    arguments: schema(json!({"account_id": account_id}), &["account_id"]),
                },
                ActionSchema {
                    name: "suspend-account".into(),
                    description: "Suspends an account so that it can no longer sign in".into(),
                    arguments: schema(
                        json!({"account_id": account_id, "reason": {"type": "string"}}),
                        &["account_id"],
                    ),
                },
            ],
            account_schema: Some(schema(
                json!({
                    "login": {"type": "string", "pattern": "^[a-z][a-z0-9._-]*$"},
                    "email": {"type": "string", "minLength": 3},
                    "name": {"type": "string"},
                }),
                &["login", "email"],
            )),
        }
    }

    fn sync(_kind: SyncKind, _cursor: Option<String>) -> Result<Page, Error> {
        Err(unsupported("sync"))
    }

    fn grant(_change: AccessChange) -> Result<String, Error> {
        Err(unsupported("grant"))
    }

    fn revoke(_change: AccessChange) -> Result<String, Error> {
        Err(unsupported("revoke"))
    }

    fn create_account(request: AccountRequest) -> Result<Account, Error> {
        let fields: NewAccount = parse("account fields", &request.fields)?;
        let api = Api::from_config()?;
        let body = json!({"login": fields.login, "email": fields.email, "name": fields.name});
        let (status, answer) = api.send("POST", "/users", Some(&body), &request.idempotency_key)?;
        // 409: the app has this login already; link that account.
        let (user, already_existed) = match status {
            409 if answer["user"].is_object() => (answer["user"].clone(), true),
            _ => (api::check("POST /users", status, answer)?, false),
        };
        let id = match &user["id"] {
            Value::String(id) => id.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(api::internal(format!("the app answered no id: {user}"))),
        };
        host::log(Level::Info, &format!("account {id} for {}", fields.login));
        Ok(Account {
            id,
            login: fields.login,
            profile: user.to_string(),
            already_existed,
        })
    }

    fn invoke_action(name: String, arguments: String, key: String) -> Result<String, Error> {
        let args: ActionArgs = parse("arguments", &arguments)?;
        let api = Api::from_config()?;
        let path = format!("/users/{}", api::segment(&args.account_id));
        let user = match name.as_str() {
            "get-account" => api.call("GET", &path, None, &key)?,
            "suspend-account" => {
                let body = json!({"reason": args.reason});
                api.call("POST", &format!("{path}/suspend"), Some(&body), &key)?
            }
            other => return Err(invalid(format!("{{name}} has no action {other:?}"))),
        };
        Ok(user.to_string())
    }
}

/// `create-account`'s fields, as the account schema describes them.
#[derive(Deserialize)]
struct NewAccount {
    login: String,
    email: String,
    name: Option<String>,
}

/// Both actions' arguments (keystep checked them against the schemas).
#[derive(Deserialize)]
struct ActionArgs {
    account_id: String,
    reason: Option<String>,
}

/// An object schema with these properties, these required, no others.
fn schema(properties: Value, required: &[&str]) -> String {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
    .to_string()
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| invalid(format!("{what}: {e}")))
}

fn unsupported(call: &str) -> Error {
    Error {
        code: "unsupported".into(),
        message: format!("{{name}} does not {call}"),
        retryable: false,
    }
}

export!(Connector);
