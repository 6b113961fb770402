//! `create_account`: a connector creates an account, and the directory
//! links it to the user.
//!
//! `method: custom` sends `fields` as given; `method: from_user` fills the
//! connector's account schema from the directory user (login, username or
//! userName from the username or the email's local part, email, name,
//! display_name or displayName, department, title: each where the schema
//! lists it as text).
//! Either way the fields are checked against the schema before the call.

use serde_json::{Map, Value as Json, json};

use super::{Input, Outcome, Phases, Plan, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::directory::User;
use crate::effects::{Effect, Performed};
use crate::error::Error;
use crate::plugins::{Account, Credential, schema};

pub struct CreateAccount;

impl Step for CreateAccount {
    fn spec(&self) -> &'static StepSpec {
        &spec::CREATE_ACCOUNT
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

/// The account's fields, checked against the connector's account schema.
fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let connector = input["connector"].as_str().unwrap_or_default();
    let method = input["method"].as_str().unwrap_or_default();
    let credential = input
        .get("credential")
        .and_then(Json::as_str)
        .map_or(Some(Credential::NoPassword), Credential::parse)
        .ok_or_else(|| {
            Error::fatal(format!(
                "`credential` is one of {}",
                Credential::NAMES.join(", ")
            ))
        })?;
    let user = match input.get("user") {
        Some(_) => Some(target::user(cx, input, "user")?),
        None => None,
    };
    let info = cx.plugins.connector_info(connector)?;
    if !info.can("account-provisioning") {
        return Err(Error::fatal(format!(
            "connector `{connector}` cannot create accounts"
        )));
    }
    let app = cx.dir.app_with_connector(connector)?.ok_or_else(|| {
            Error::fatal(format!(
                "no app in the directory uses connector `{connector}`, so the account could not be linked"
            ))
        })?;
    let schema = info.account_schema.clone().unwrap_or(json!({}));
    let fields = match (method, &user) {
        ("from_user", Some(user)) => from_user(user, &schema),
        ("from_user", None) => {
            return Err(Error::fatal("`method: from_user` needs `user`"));
        }
        _ => input.get("fields").cloned().unwrap_or(json!({})),
    };
    let wrong = schema::violations(&schema, &fields);
    if !wrong.is_empty() {
        return Err(Error::fatal(format!(
            "account fields do not fit `{connector}`'s account schema: {}",
            wrong.join("; ")
        )));
    }
    let (connector, app) = (connector.to_string(), app.id);
    let effect = Effect::CreateAccount {
        connector: connector.clone(),
        app: app.clone(),
        fields: fields.clone(),
        credential,
    };
    Ok(Plan::perform(effect, move |cx, performed| {
        let account = match performed {
            Performed::Recorded(would) => return Ok(Outcome::Done(would)),
            Performed::Done(account) => serde_json::from_value::<Account>(account)
                .map_err(|e| Error::fatal(format!("connector `{connector}`'s account: {e}")))?,
        };
        // Without `user:`, an account the app already had keeps the user it
        // is linked to: unlinked, a later revoke would not find it.
        let linked = match &user {
            Some(user) => Some(user.id.clone()),
            None => cx.dir.account(&app, &account.id)?.and_then(|a| a.user_id),
        };
        cx.dir.put_account(&json!({
            "id": account.id,
            "app": app,
            "user": linked,
            "username": account.login,
            "email": fields.get("email"),
            "attributes": account.profile,
        }))?;
        Ok(Outcome::Done(json!({
            "connector": connector,
            "app": app,
            "account_id": account.id,
            "login": account.login,
            "user_id": user.map(|u| u.id),
            "already_existed": account.already_existed,
        })))
    }))
}

/// The account fields for `user`, limited to those the schema lists (all
/// of them when it lists none).
fn from_user(user: &User, schema: &Json) -> Json {
    let email_local = user
        .email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .map(str::to_lowercase);
    let login = user.username.clone().or(email_local);
    let candidates = [
        ("login", login.clone()),
        ("username", login.clone()),
        ("userName", login),
        ("email", user.email.clone()),
        ("name", Some(user.display_name.clone())),
        ("display_name", Some(user.display_name.clone())),
        ("displayName", Some(user.display_name.clone())),
        ("department", user.department.clone()),
        ("title", user.title.clone()),
    ];
    let listed = schema.get("properties").and_then(Json::as_object);
    let mut fields = Map::new();
    for (key, value) in candidates {
        // Only into a field the schema lists as text (SCIM's `name` is an
        // object of its own).
        let text = |s: &Json| s.get("type").is_none_or(|t| t == "string");
        let wanted = listed.is_none_or(|p| p.get(key).is_some_and(text));
        if let (true, Some(value)) = (wanted, value) {
            fields.insert(key.to_string(), json!(value));
        }
    }
    Json::Object(fields)
}
