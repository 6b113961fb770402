//! A connector's `info`: asked once per component and grant file, checked
//! (its name is its component file's, its strings are bounded), and remembered in the
//! index, failures too, so that a connector whose `info` hangs or lies
//! costs its timeout once, not once per command.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::bindings::api::{self, Capability};
use super::bounds::{self, at_most};
use super::discover::{Index, Remembered};
use super::{Loaded, Plugins, detail, plugin_error};
use crate::error::Error;

/// A connector's `info`, as keystep keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub capabilities: Vec<String>,
    pub actions: Vec<ActionSchema>,
    pub account_schema: Option<Json>,
}

impl ConnectorInfo {
    pub fn can(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    pub fn action(&self, name: &str) -> Option<&ActionSchema> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Why connector `connector` cannot run action `action` on `args`, if
    /// it cannot: it offers no actions, not this one (with the closest
    /// name), or `args` do not fit the action's schema.
    pub fn check_action(&self, connector: &str, action: &str, args: &Json) -> Result<(), String> {
        if !self.can("actions") {
            return Err(format!("connector `{connector}` offers no actions"));
        }
        let Some(declared) = self.action(action) else {
            let names: Vec<&str> = self.actions.iter().map(|a| a.name.as_str()).collect();
            return Err(format!(
                "connector `{connector}` has no action `{action}`{} (it has: {})",
                crate::suggest::suggest(action, names.iter().copied()),
                names.join(", ")
            ));
        };
        let wrong = super::schema::violations(&declared.arguments, args);
        if !wrong.is_empty() {
            return Err(format!(
                "arguments of `{connector}` action `{action}` do not fit its schema: {}",
                wrong.join("; ")
            ));
        }
        Ok(())
    }
}

/// One custom action a connector offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionSchema {
    pub name: String,
    pub description: String,
    pub arguments: Json,
}

impl Plugins {
    /// A loaded connector's `info`: from this process, else from the index
    /// (if asked before under the same grant file), else asked now and
    /// remembered, whether it worked or not.
    pub(super) fn info_of(&self, plugin: &Arc<Loaded>) -> Result<ConnectorInfo, Error> {
        plugin
            .info
            .get_or_init(|| {
                let fail = |why: String| plugin_error(&plugin.name, "load", why);
                if let Some(known) = plugin.found.remembered(&plugin.grants.fingerprint) {
                    return match &known.outcome {
                        Ok(info) => serde_json::from_value(info.clone())
                            .map_err(|e| fail(format!("remembered info: {e}"))),
                        Err(why) => Err(fail(format!(
                            "{why} (remembered: its `info` is not asked again until the \
                             component or its grant file changes)"
                        ))),
                    };
                }
                let asked = self.ask_info(plugin);
                let outcome = match &asked {
                    Ok(info) => Ok(serde_json::to_value(info).unwrap_or_default()),
                    Err(e) => Err(detail(&plugin.name, e).to_string()),
                };
                if !self.is_offline() {
                    let mut index = Index::open(&self.cache);
                    let grants = plugin.grants.fingerprint.clone();
                    index.set_info(&plugin.found, Remembered { grants, outcome });
                    index.save();
                }
                asked.map_err(|e| fail(detail(&plugin.name, &e).to_string()))
            })
            .clone()
    }

    /// Calls `info` and checks what it says.
    fn ask_info(&self, plugin: &Arc<Loaded>) -> Result<ConnectorInfo, Error> {
        let info = self.connector(plugin, |store, c| c.call_info(store).map(Ok))?;
        let info = checked(info).map_err(|why| {
            plugin_error(
                &plugin.name,
                "load",
                format!("its `info` is refused: {why}"),
            )
        })?;
        // An instance's own name is its file's; its component's is the
        // component file's, which `info` must give.
        let component = plugin.found.stem();
        if info.name != component {
            return Err(plugin_error(
                &plugin.name,
                "load",
                format!(
                    "its `info` gives the name `{}`, but a connector's name is its component \
                     file's name, `{component}`: rename the file or correct the connector",
                    bounds::shorten(&info.name, bounds::NAME_MAX),
                ),
            ));
        }
        Ok(info)
    }
}

/// `info` as keystep keeps it, if every string in it is within bounds.
fn checked(info: api::ConnectorInfo) -> Result<ConnectorInfo, String> {
    at_most("info.name", &info.name, bounds::NAME_MAX)?;
    at_most("info.version", &info.version, bounds::VERSION_MAX)?;
    at_most(
        "info.description",
        &info.description,
        bounds::DESCRIPTION_MAX,
    )?;
    if info.actions.len() > bounds::ACTIONS_MAX {
        return Err(format!(
            "it declares {} actions, over the limit of {}",
            info.actions.len(),
            bounds::ACTIONS_MAX
        ));
    }
    let mut actions = Vec::new();
    for a in info.actions {
        at_most("an action's name", &a.name, bounds::NAME_MAX)?;
        let what = format!("action `{}`", a.name);
        at_most(
            &format!("{what}: description"),
            &a.description,
            bounds::DESCRIPTION_MAX,
        )?;
        at_most(
            &format!("{what}: arguments"),
            &a.arguments,
            bounds::SCHEMA_MAX,
        )?;
        actions.push(ActionSchema {
            arguments: serde_json::from_str(&a.arguments).unwrap_or(Json::Null),
            name: a.name,
            description: a.description,
        });
    }
    if let Some(schema) = &info.account_schema {
        at_most("info.account-schema", schema, bounds::SCHEMA_MAX)?;
    }
    Ok(ConnectorInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        capabilities: info.capabilities.iter().map(capability).collect(),
        actions,
        // Text that is not JSON becomes null: a schema that refuses all.
        account_schema: info
            .account_schema
            .map(|s| serde_json::from_str(&s).unwrap_or(Json::Null)),
    })
}

fn capability(c: &Capability) -> String {
    match c {
        Capability::Sync => "sync",
        Capability::Provision => "provision",
        Capability::AccountProvisioning => "account-provisioning",
        Capability::Actions => "actions",
    }
    .to_string()
}
