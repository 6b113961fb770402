//! Calling a plugin's exports, each call in a fresh sandbox.

use std::sync::Arc;

use serde_json::Value as Json;
use wasmtime::Store;

use super::bindings::api;
use super::bindings::types;
use super::bounds;
use super::sandbox::{self, HostState, HttpSpent};
use super::scratch;
use super::scrub::Scrub;
use super::{
    CallCounts, CallOutcome, ConnectorInfo, DirectoryAccess, Loaded, Plugins, Pre, World,
    plugin_error,
};
use crate::error::Error;

/// A change of access for a connector's `grant` or `revoke`.
pub struct AccessChange<'a> {
    pub user: &'a Json,
    pub account_id: Option<&'a str>,
    /// The entitlement's slug in the app.
    pub entitlement: &'a str,
    pub idempotency_key: &'a str,
}

/// How a new account gets its first credential.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Credential {
    NoPassword,
    RandomPassword,
    Sso,
}

impl Credential {
    pub const NAMES: &[&str] = &["no_password", "random_password", "sso"];

    pub fn parse(name: &str) -> Option<Credential> {
        match name {
            "no_password" => Some(Credential::NoPassword),
            "random_password" => Some(Credential::RandomPassword),
            "sso" => Some(Credential::Sso),
            _ => None,
        }
    }
}

/// The account a connector created or found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: String,
    pub login: String,
    pub profile: Json,
    pub already_existed: bool,
}

/// What a connector's `sync` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    Users,
    Resources,
    Entitlements,
    Grants,
}

impl SyncKind {
    /// In the order a sync lists them: what later kinds refer to first.
    pub const ALL: [SyncKind; 4] = [
        SyncKind::Users,
        SyncKind::Resources,
        SyncKind::Entitlements,
        SyncKind::Grants,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SyncKind::Users => "users",
            SyncKind::Resources => "resources",
            SyncKind::Entitlements => "entitlements",
            SyncKind::Grants => "grants",
        }
    }
}

/// One page of a connector's listing.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPage {
    /// Each item a JSON object.
    pub items: Vec<Json>,
    /// The cursor of the next page; none after the last.
    pub next: Option<String>,
    /// The items' size as the plugin wrote them.
    pub bytes: usize,
    /// What the page's HTTP requests took.
    pub http: HttpSpent,
}

impl Plugins {
    /// Runs function `name` on `input`; its JSON result.
    pub fn call_function(
        &self,
        name: &str,
        input: &Json,
        directory: Option<Arc<dyn DirectoryAccess>>,
    ) -> Result<Json, Error> {
        let plugin = self.load(name, World::Function)?;
        let input = input.to_string();
        check_size(
            &plugin,
            "input",
            input.len(),
            plugin.grants.limits.input_bytes,
        )?;
        let output = self.run(&plugin, directory, |store, pre| match pre {
            Pre::Function(pre) => pre.instantiate(&mut *store)?.call_call(&mut *store, &input),
            Pre::FunctionV0_2(pre) => {
                let called = pre
                    .instantiate(&mut *store)?
                    .call_call(&mut *store, &input)?;
                Ok(called.map_err(types::Error::from))
            }
            Pre::Connector(_) => unreachable!("loaded as a function"),
        })?;
        parse_output(&plugin, &output)
    }

    /// A connector's `info`.
    pub fn connector_info(&self, name: &str) -> Result<ConnectorInfo, Error> {
        let plugin = self.load(name, World::Connector)?;
        self.info_of(&plugin)
    }

    /// Connector `name` gives `change.user` the entitlement.
    pub fn grant(&self, name: &str, change: &AccessChange) -> Result<Json, Error> {
        self.change_access(name, change, true)
    }

    /// Connector `name` takes the entitlement away.
    pub fn revoke(&self, name: &str, change: &AccessChange) -> Result<Json, Error> {
        self.change_access(name, change, false)
    }

    fn change_access(&self, name: &str, change: &AccessChange, grant: bool) -> Result<Json, Error> {
        let plugin = self.load(name, World::Connector)?;
        let change = api::AccessChange {
            user: change.user.to_string(),
            account_id: change.account_id.map(str::to_string),
            entitlement: change.entitlement.to_string(),
            idempotency_key: change.idempotency_key.to_string(),
        };
        let output = self.connector(&plugin, |store, c| {
            if grant {
                c.call_grant(store, &change)
            } else {
                c.call_revoke(store, &change)
            }
        })?;
        parse_output(&plugin, &output)
    }

    /// Connector `name` creates an account from `fields`.
    pub fn create_account(
        &self,
        name: &str,
        fields: &Json,
        credential: Credential,
        idempotency_key: &str,
    ) -> Result<Account, Error> {
        let plugin = self.load(name, World::Connector)?;
        let request = api::AccountRequest {
            fields: fields.to_string(),
            credential: match credential {
                Credential::NoPassword => api::CredentialOption::NoPassword,
                Credential::RandomPassword => api::CredentialOption::RandomPassword,
                Credential::Sso => api::CredentialOption::Sso,
            },
            idempotency_key: idempotency_key.to_string(),
        };
        let account = self.connector(&plugin, |store, c| c.call_create_account(store, &request))?;
        for (what, value) in [("id", &account.id), ("login", &account.login)] {
            bounds::at_most(
                &format!("the account's {what}"),
                value,
                bounds::ACCOUNT_FIELD_MAX,
            )
            .map_err(|why| plugin_error(name, "invalid-output", why))?;
        }
        Ok(Account {
            profile: parse_output(&plugin, &account.profile)?,
            id: account.id,
            login: account.login,
            already_existed: account.already_existed,
        })
    }

    /// One page of connector `name`'s listing of `kind`, from `cursor`
    /// (none for the first page). The page's items together are held to
    /// the plugin's output limit, each must be a JSON object, and the
    /// cursor to [`bounds::CURSOR_MAX`].
    pub fn sync_page(
        &self,
        name: &str,
        kind: SyncKind,
        cursor: Option<&str>,
    ) -> Result<SyncPage, Error> {
        let plugin = self.load(name, World::Connector)?;
        let wit_kind = match kind {
            SyncKind::Users => api::SyncKind::Users,
            SyncKind::Resources => api::SyncKind::Resources,
            SyncKind::Entitlements => api::SyncKind::Entitlements,
            SyncKind::Grants => api::SyncKind::Grants,
        };
        let mut http = HttpSpent::default();
        let page = self.connector(&plugin, |store, c| {
            let page = c.call_sync(&mut *store, wit_kind, cursor);
            http = store.data().http;
            page
        })?;
        let size = page.items.iter().map(String::len).sum();
        check_size(&plugin, "page", size, plugin.grants.limits.output_bytes)?;
        if let Some(next) = &page.next_cursor {
            bounds::at_most("the next cursor", next, bounds::CURSOR_MAX)
                .map_err(|why| plugin_error(name, "invalid-output", why))?;
        }
        let mut items = Vec::with_capacity(page.items.len());
        for item in &page.items {
            match parse_output(&plugin, item)? {
                item @ Json::Object(_) => items.push(item),
                _ => {
                    return Err(plugin_error(
                        name,
                        "invalid-output",
                        format!("listed {} that are not JSON objects", kind.name()),
                    ));
                }
            }
        }
        Ok(SyncPage {
            items,
            next: page.next_cursor,
            bytes: size,
            http,
        })
    }

    /// Connector `name` runs custom action `action`.
    pub fn invoke_action(
        &self,
        name: &str,
        action: &str,
        arguments: &Json,
        idempotency_key: &str,
    ) -> Result<Json, Error> {
        let plugin = self.load(name, World::Connector)?;
        let arguments = arguments.to_string();
        check_size(
            &plugin,
            "input",
            arguments.len(),
            plugin.grants.limits.input_bytes,
        )?;
        let output = self.connector(&plugin, |store, c| {
            c.call_invoke_action(store, action, &arguments, idempotency_key)
        })?;
        parse_output(&plugin, &output)
    }

    /// Instantiates a connector and calls `f` on its exports.
    pub(super) fn connector<R: Scrub>(
        &self,
        plugin: &Arc<Loaded>,
        f: impl FnOnce(&mut Store<HostState>, &api::Guest) -> wasmtime::Result<Result<R, types::Error>>,
    ) -> Result<R, Error> {
        self.run(plugin, None, |store, pre| {
            let Pre::Connector(pre) = pre else {
                unreachable!("loaded as a connector")
            };
            let instance = pre.instantiate(&mut *store)?;
            f(store, instance.keystep_plugin_connector())
        })
    }

    /// One call in a fresh store: limits set, failures put into words.
    fn run<R: Scrub>(
        &self,
        plugin: &Arc<Loaded>,
        directory: Option<Arc<dyn DirectoryAccess>>,
        call: impl FnOnce(&mut Store<HostState>, &Pre) -> wasmtime::Result<Result<R, types::Error>>,
    ) -> Result<R, Error> {
        let mut store = self.sandbox(plugin, directory)?;
        let result = call(&mut store, &plugin.pre);
        finish(plugin, &store, result, &self.calls)
    }

    /// A fresh store for a call of `plugin`, its limits set; refused while
    /// the plugin's scratch directory is over quota.
    pub(super) fn sandbox(
        &self,
        plugin: &Arc<Loaded>,
        directory: Option<Arc<dyn DirectoryAccess>>,
    ) -> Result<Store<HostState>, Error> {
        let runtime = self
            .runtimes
            .get(plugin.grants.limits.fuel.is_some())
            .map_err(|e| plugin_error(&plugin.name, "load", e))?;
        if let Some(e) = over_quota(plugin, "; no call is made until room is made in it") {
            return Err(e);
        }
        sandbox::store(runtime, plugin, directory, self.is_offline())
            .map_err(|e| plugin_error(&plugin.name, "load", e))
    }
}

/// A call's outcome in `store`, scrubbed, or its failure put into words;
/// counted in `counts`.
pub(super) fn finish<R: Scrub>(
    plugin: &Loaded,
    store: &Store<HostState>,
    result: wasmtime::Result<Result<R, types::Error>>,
    counts: &CallCounts,
) -> Result<R, Error> {
    counts.count(
        &plugin.name,
        match &result {
            Ok(Ok(_)) => CallOutcome::Ok,
            Ok(Err(_)) => CallOutcome::Error,
            Err(_) => CallOutcome::Trap,
        },
    );
    if let Some(e) = over_quota(plugin, "; the call that did this fails") {
        return Err(e);
    }
    let state = store.data();
    if state.log_dropped > 0 {
        super::log_line(
            &plugin.name,
            "warn",
            &format!(
                "{} log lines dropped: over the log budget of {} KiB",
                state.log_dropped,
                plugin.grants.limits.log_bytes >> 10
            ),
        );
    }
    match result {
        Ok(Ok(value)) => Ok(state.scrub_output(value)),
        Ok(Err(e)) => Err(state.plugin_error(e)),
        Err(trap) => Err(plugin_error(&plugin.name, "trap", state.describe(&trap))),
    }
}

/// Why `plugin` may not run, if its scratch directory is over quota;
/// `when` says what follows.
fn over_quota(plugin: &Loaded, when: &str) -> Option<Error> {
    let dir = plugin.grants.scratch.as_deref()?;
    let why = scratch::check(dir, &plugin.grants.limits).err()?;
    Some(plugin_error(
        &plugin.name,
        "limit",
        format!("its scratch directory {why}{when}"),
    ))
}

pub(super) fn check_size(
    plugin: &Loaded,
    what: &str,
    size: usize,
    limit: usize,
) -> Result<(), Error> {
    if size > limit {
        return Err(plugin_error(
            &plugin.name,
            "limit",
            format!("its {what} is {size} bytes, over the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// A plugin's JSON output, checked for size and syntax.
pub(super) fn parse_output(plugin: &Loaded, output: &str) -> Result<Json, Error> {
    check_size(
        plugin,
        "output",
        output.len(),
        plugin.grants.limits.output_bytes,
    )?;
    serde_json::from_str(output).map_err(|e| {
        plugin_error(
            &plugin.name,
            "invalid-output",
            format!("returned text that is not JSON: {e}"),
        )
    })
}
