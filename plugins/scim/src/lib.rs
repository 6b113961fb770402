//! A SCIM 2.0 connector (world `connector-plugin`): provisions accounts and
//! group memberships in any SCIM service provider (RFC 7643, RFC 7644)
//! through the host's `http-fetch`.
//!
//! Configuration (`[config]` of the instance's file): `base_url` (the SCIM
//! endpoint, e.g. `https://api.example.com/scim/v2`), `token_secret` (the
//! secret holding the bearer token; `scim_token` unless set), `page_size`
//! (users a page, 100) and `group_page_size` (groups a page when listing
//! memberships, 20). Users sync as accounts, groups as resources, a group's
//! membership as the entitlement `group:<id>:member`, members as grants.

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "connector-plugin",
});

mod api;
mod map;

use exports::keystep::plugin::connector::{
    AccessChange, Account, AccountRequest, ActionSchema, Capability, ConnectorInfo, Guest, Page,
    SyncKind,
};
use keystep::plugin::host::{self, Level};
use keystep::plugin::types::Error;
use serde_json::{Value, json};

use api::{Api, encode, invalid, quoted};

struct Scim;

impl Guest for Scim {
    fn info() -> ConnectorInfo {
        let account = json!({"type": "string", "minLength": 1});
        let action = |name: &str, description: &str, more: Value| {
            let mut properties = json!({"account_id": account});
            let mut required = vec!["account_id"];
            if let Value::Object(more) = more {
                for (key, schema) in more {
                    properties[&key] = schema;
                }
                required.push("attributes");
            }
            ActionSchema {
                name: name.into(),
                description: description.into(),
                arguments: json!({
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                })
                .to_string(),
            }
        };
        ConnectorInfo {
            name: "scim".into(),
            version: "0.1.0".into(),
            description: "Any SCIM 2.0 service provider: users, groups and group membership".into(),
            capabilities: vec![
                Capability::Sync,
                Capability::Provision,
                Capability::AccountProvisioning,
                Capability::Actions,
            ],
            actions: vec![
                action(
                    "disable_account",
                    "Sets the account's `active` to false",
                    Value::Null,
                ),
                action(
                    "enable_account",
                    "Sets the account's `active` to true",
                    Value::Null,
                ),
                action(
                    "set_attributes",
                    "Replaces the given attributes of the account (a SCIM PATCH replace)",
                    json!({"attributes": {"type": "object", "minProperties": 1}}),
                ),
            ],
            account_schema: Some(map::account_schema(&announced_attributes()).to_string()),
        }
    }

    fn sync(kind: SyncKind, cursor: Option<String>) -> Result<Page, Error> {
        let api = Api::new()?;
        let at = Position::parse(cursor.as_deref())?;
        let (items, next): (Vec<Value>, _) = match kind {
            SyncKind::Users => {
                let (users, next) = at.page(&api, "/Users", "", api.page_size)?;
                (users.iter().map(map::account).collect(), next)
            }
            SyncKind::Resources | SyncKind::Entitlements => {
                let only = "&attributes=id,displayName";
                let (groups, next) = at.page(&api, "/Groups", only, api.page_size)?;
                let shape = match kind {
                    SyncKind::Resources => map::resource,
                    _ => map::entitlement,
                };
                (groups.iter().map(shape).collect(), next)
            }
            SyncKind::Grants => {
                let only = "&attributes=id,members";
                let (groups, next) = at.page(&api, "/Groups", only, api.group_page_size)?;
                (groups.iter().flat_map(map::grants).collect(), next)
            }
        };
        Ok(Page {
            items: items.iter().map(Value::to_string).collect(),
            next_cursor: next,
        })
    }

    fn grant(change: AccessChange) -> Result<String, Error> {
        let (api, group, account) = membership(&change)?;
        let already = is_member(&api, group, &account)?;
        if !already {
            let add = map::patch("add", Some("members"), Some(json!([{"value": account}])));
            api.call("PATCH", &format!("/Groups/{}", encode(group)), Some(&add))?;
        }
        Ok(json!({"group": group, "account": account, "already": already}).to_string())
    }

    fn revoke(change: AccessChange) -> Result<String, Error> {
        let (api, group, account) = membership(&change)?;
        let held = is_member(&api, group, &account)?;
        if held {
            let path = format!("members[value eq {}]", quoted(&account));
            let remove = map::patch("remove", Some(&path), None);
            api.call(
                "PATCH",
                &format!("/Groups/{}", encode(group)),
                Some(&remove),
            )?;
        }
        Ok(json!({"group": group, "account": account, "already": !held}).to_string())
    }

    fn create_account(request: AccountRequest) -> Result<Account, Error> {
        let api = Api::new()?;
        let fields: Value = serde_json::from_str(&request.fields)
            .map_err(|e| invalid(format!("account fields are not JSON: {e}")))?;
        let login = map::text(&fields["userName"]).to_string();
        if login.is_empty() {
            return Err(invalid("account fields have no userName".into()));
        }
        let (status, answer) = api.send("POST", "/Users", Some(&map::new_user(&fields)))?;
        let (user, already_existed) = match status {
            // RFC 7644 section 3.3: 409 `uniqueness`: the account is there.
            409 => match find_user(&api, &login)? {
                Some(user) => (user, true),
                None => return Err(api::error("POST", "/Users", status, &answer)),
            },
            _ => {
                api::check("POST", "/Users", status, &answer)?;
                (answer, false)
            }
        };
        let id = map::text(&user["id"]).to_string();
        if id.is_empty() {
            return Err(invalid("the server answered a user without an id".into()));
        }
        Ok(Account {
            id,
            login,
            profile: map::account(&user).to_string(),
            already_existed,
        })
    }

    fn invoke_action(
        name: String,
        arguments: String,
        _idempotency_key: String,
    ) -> Result<String, Error> {
        let arguments: Value = serde_json::from_str(&arguments)
            .map_err(|e| invalid(format!("arguments are not JSON: {e}")))?;
        let value = match name.as_str() {
            "disable_account" => json!({"active": false}),
            "enable_account" => json!({"active": true}),
            "set_attributes" => arguments["attributes"].clone(),
            other => return Err(invalid(format!("scim has no action {other:?}"))),
        };
        let account = map::text(&arguments["account_id"]);
        if account.is_empty() {
            return Err(invalid(format!("{name} needs an account_id")));
        }
        let api = Api::new()?;
        let path = format!("/Users/{}", encode(account));
        let user = api.call(
            "PATCH",
            &path,
            Some(&map::patch("replace", None, Some(value))),
        )?;
        // A 204 answers no body: read the account back.
        let user = match user.is_object() {
            true => user,
            false => api.call("GET", &path, None)?,
        };
        Ok(map::account(&user).to_string())
    }
}

/// Where a listing is: a 1-based `startIndex` (RFC 7644 section 3.4.2.4),
/// or a server's cursor (RFC 9865) when its configuration announces them.
enum Position {
    First,
    Index(u64),
    Cursor(String),
}

impl Position {
    fn parse(cursor: Option<&str>) -> Result<Position, Error> {
        let Some(cursor) = cursor else {
            return Ok(Position::First);
        };
        if let Some(index) = cursor.strip_prefix("i:") {
            let index = index
                .parse()
                .map_err(|_| invalid(format!("bad cursor {cursor:?}")))?;
            return Ok(Position::Index(index));
        }
        match cursor.strip_prefix("c:") {
            Some(c) => Ok(Position::Cursor(c.to_string())),
            None => Err(invalid(format!("bad cursor {cursor:?}"))),
        }
    }

    /// One page of `path` (`extra`: more of the query, from `&`), and the
    /// cursor of the next (none after the last).
    fn page(
        &self,
        api: &Api,
        path: &str,
        extra: &str,
        count: u32,
    ) -> Result<(Vec<Value>, Option<String>), Error> {
        let by_cursor = match self {
            Position::First => announces_cursors(api),
            Position::Index(_) => false,
            Position::Cursor(_) => true,
        };
        if by_cursor {
            let cursor = match self {
                Position::Cursor(c) => encode(c),
                _ => String::new(),
            };
            let query = format!("cursor={cursor}&count={count}{extra}");
            let answer = api.call("GET", &format!("{path}?{query}"), None)?;
            let items = answer["Resources"].as_array().cloned().unwrap_or_default();
            let next = answer["nextCursor"].as_str().map(|c| format!("c:{c}"));
            return Ok((items, next));
        }
        let start = match self {
            Position::Index(n) => *n,
            _ => 1,
        };
        let query = format!("startIndex={start}&count={count}{extra}");
        let (items, total) = api.list(path, &query)?;
        let after = start + items.len() as u64;
        let next = (!items.is_empty() && after <= total).then(|| format!("i:{after}"));
        Ok((items, next))
    }
}

/// Whether the server's `/ServiceProviderConfig` announces cursor
/// pagination (RFC 9865 section 4); if it cannot be read, no.
fn announces_cursors(api: &Api) -> bool {
    api.call("GET", "/ServiceProviderConfig", None)
        .is_ok_and(|c| c["pagination"]["cursor"] == json!(true))
}

/// The single-valued attributes the server's User schema announces; none
/// if it cannot be read (then the core ones make the account schema).
fn announced_attributes() -> Vec<Value> {
    let schema =
        Api::new().and_then(|api| api.call("GET", &format!("/Schemas/{}", map::CORE_USER), None));
    match schema {
        Ok(schema) => schema["attributes"].as_array().cloned().unwrap_or_default(),
        Err(e) => {
            host::log(
                Level::Warn,
                &format!("the User schema is not announced: {}", e.message),
            );
            Vec::new()
        }
    }
}

/// The service provider, the group and the account a change is about.
fn membership(change: &AccessChange) -> Result<(Api, &str, String), Error> {
    let group = map::group_of(&change.entitlement).ok_or_else(|| {
        invalid(format!(
            "`{}` is not a SCIM group membership (group:<id>:member)",
            change.entitlement
        ))
    })?;
    let account = change
        .account_id
        .clone()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            invalid("the user has no account in this app yet: create it first".into())
        })?;
    Ok((Api::new()?, group, account))
}

/// Whether `account` is a member of `group` (a filter, so the group's other
/// members are not listed; a group that is not there has no members, and
/// the PATCH that adds one says it is not there).
fn is_member(api: &Api, group: &str, account: &str) -> Result<bool, Error> {
    let filter = format!(
        "id eq {} and members.value eq {}",
        quoted(group),
        quoted(account)
    );
    let query = format!("filter={}&attributes=id", encode(&filter));
    let (found, _) = api.list("/Groups", &query)?;
    Ok(!found.is_empty())
}

/// The user whose `userName` is `login`, if any.
fn find_user(api: &Api, login: &str) -> Result<Option<Value>, Error> {
    let filter = format!("userName eq {}", quoted(login));
    let (mut found, _) = api.list("/Users", &format!("filter={}", encode(&filter)))?;
    Ok(found.pop())
}

export!(Scim);
