//! The WebAssembly plugin host: connectors and functions as sandboxed
//! components, loaded from the plugin folders.
//!
//! This module knows nothing of automations or runs. It finds components
//! ([`discover`]) and instances of them ([`instances`]), reads what the
//! operator grants each one ([`grants`]),
//! compiles them once and caches the result on disk ([`runtime`]), and calls
//! their exports, each call in a fresh sandbox ([`sandbox`]) with the
//! `host` and `directory` imports ([`imports`]) and HTTP through the
//! allowlist ([`egress`]). The interface is `wit/v0.1.0`
//! ([`bindings`]); [`schema`] checks arguments against the JSON Schemas a
//! connector declares.

#[doc(hidden)]
pub mod async_calls;
mod bindings;
pub mod bounds;
mod calls;
pub mod conformance;
mod counts;
mod discover;
pub mod egress;
pub mod grants;
mod imports;
mod imports_v0_1;
mod info;
mod instances;
mod logs;
mod pool;
mod runtime;
mod sandbox;
pub mod schema;
mod scratch;
mod scrub;
mod stderr;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value as Json};

pub use calls::{AccessChange, Account, Credential, SyncKind, SyncPage};
pub use counts::{CallCounts, CallOutcome};
pub use discover::{Found, Interface, World};
pub use grants::Grants;
pub use info::{ActionSchema, ConnectorInfo};
pub(crate) use logs::log_line;
pub use logs::{capturing_logs, log_through_tracing, set_log_level};
pub use sandbox::HttpSpent;

use crate::error::Error;
use bindings::connector::ConnectorPluginPre as ConnectorPre;
use bindings::function::FunctionPre;
use discover::Index;
use egress::Egress;
use pool::Pool;
use runtime::Runtimes;
use sandbox::HostState;

/// Read-only directory access lent to functions through the `directory`
/// import. Values are the JSON objects the WIT documents.
pub trait DirectoryAccess: Send + Sync {
    fn get_user(&self, id: &str) -> Result<Option<Json>, String>;
    fn find_users(&self, filter: &Map<String, Json>, limit: u32) -> Result<Vec<Json>, String>;
    fn list_grants(&self, user: &str) -> Result<Vec<Json>, String>;
}

/// A plugin's failure as users see it, "plugin `NAME`: CODE: MESSAGE",
/// final unless made retryable. `code` is the plugin's own error code, or
/// `trap`, `limit`, `not-found`, `load` and `invalid-output` for the
/// host's reasons.
pub fn plugin_error(plugin: &str, code: &str, message: impl std::fmt::Display) -> Error {
    Error::fatal(format!("plugin `{plugin}`: {code}: {message}")).with_code(code)
}

/// What a failure of `plugin` says after its "plugin `NAME`: CODE: ".
pub fn detail<'a>(plugin: &str, e: &'a Error) -> &'a str {
    let code = e.code.as_deref().unwrap_or_default();
    e.message
        .strip_prefix(&format!("plugin `{plugin}`: {code}: "))
        .unwrap_or(&e.message)
}

/// A plugin as `plugins list` shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub found: Found,
    /// The grants, or why the grant file could not be read.
    pub grants: Result<Grants, String>,
    pub info: Option<ConnectorInfo>,
}

impl Entry {
    /// Plugin `name`, running `found` under `grants`, with the `info`
    /// remembered for that grant file if there is one.
    fn new(name: String, found: Found, grants: Result<Grants, String>) -> Entry {
        let info = grants
            .as_ref()
            .ok()
            .and_then(|g| found.remembered(&g.fingerprint))
            .and_then(|known| known.outcome.as_ref().ok())
            .and_then(|i| serde_json::from_value(i.clone()).ok());
        Entry {
            name,
            found,
            grants,
            info,
        }
    }
}

/// A plugin ready to call: compiled, linked, with its grants.
pub struct Loaded {
    pub name: String,
    pub found: Found,
    pub grants: Grants,
    egress: Option<Egress>,
    pre: Pre,
    /// A connector's `info` (or why it failed), asked once.
    info: OnceLock<Result<ConnectorInfo, Error>>,
}

enum Pre {
    Function(FunctionPre<HostState>),
    /// A function built against `keystep:plugin@0.2.0`.
    FunctionV0_2(bindings::v0_2::function::FunctionPre<HostState>),
    Connector(ConnectorPre<HostState>),
}

/// The plugin host.
pub struct Plugins {
    dirs: Vec<PathBuf>,
    cache: PathBuf,
    runtimes: Runtimes<HostState>,
    /// Plugins loaded so far, by name; a plugin is loaded once per process
    /// (again if its component or grant file changed).
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    /// The same plugins by name, so that a call needs no folder scan.
    by_name: Mutex<HashMap<String, Arc<Loaded>>>,
    /// The last scan of the folders.
    listing: Mutex<Vec<Result<Entry, String>>>,
    /// Where calls from async code run ([`Plugins::blocking`]).
    pool: Pool,
    /// How the calls ended.
    calls: CallCounts,
    /// Set by [`Plugins::go_offline`]: every `http-fetch` is refused.
    offline: AtomicBool,
}

impl Plugins {
    /// Plugins from `dirs`, with compiled artifacts kept under `cache`.
    /// Nothing is read until a plugin is asked for.
    pub fn new(dirs: Vec<PathBuf>, cache: PathBuf) -> Plugins {
        Plugins {
            dirs,
            cache,
            runtimes: Runtimes::new(sandbox::link),
            loaded: Mutex::default(),
            by_name: Mutex::default(),
            listing: Mutex::default(),
            pool: Pool::default(),
            calls: CallCounts::default(),
            offline: AtomicBool::new(false),
        }
    }

    /// From now on no plugin reaches outside: every `http-fetch` is
    /// refused, whatever is granted, and connectors' `info` answers are
    /// not remembered (an answer made offline is not the connector's
    /// usual one). For `keystep test`.
    pub fn go_offline(&self) {
        self.offline.store(true, Ordering::Relaxed);
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    /// The same host running at most `calls` plugin calls at once from
    /// async code (at least one; unless set, twice the cores, from 4 to 50).
    pub fn with_concurrency(mut self, calls: usize) -> Plugins {
        self.pool = Pool::new(calls);
        self
    }

    /// How many calls from async code run at once.
    pub fn concurrency(&self) -> usize {
        self.pool.size()
    }

    /// Runs `f`, a plugin call of the synchronous API, from async code: on
    /// tokio's blocking pool, at most [`Plugins::concurrency`] at once; the
    /// call's time limit counts from when it starts running.
    pub async fn blocking<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Plugins) -> R + Send + 'static,
    ) -> R {
        let plugins = self.clone();
        self.pool.run(move || f(&plugins)).await
    }

    /// How this process's calls ended so far.
    pub fn calls(&self) -> &CallCounts {
        &self.calls
    }

    /// No plugin folders at all.
    pub fn none() -> Plugins {
        Plugins::new(Vec::new(), PathBuf::new())
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn compiled_dir(&self) -> PathBuf {
        self.cache.join("compiled")
    }

    fn grants_for(&self, found: &Found, name: &str) -> Result<Grants, String> {
        Grants::load(
            &found.path.with_extension("toml"),
            name,
            &self.cache.join("scratch"),
        )
    }

    /// Every plugin in the folders, without calling any: each component,
    /// then each instance file ([`instances`]). The first of two plugins
    /// with the same name wins; the second is reported as an error.
    pub fn list(&self) -> Vec<Result<Entry, String>> {
        let mut index = Index::open(&self.cache);
        let mut seen: HashMap<String, PathBuf> = HashMap::new();
        let scanned = index.scan(&self.dirs);
        let mut out: Vec<_> = scanned
            .iter()
            .map(|found| found.clone().and_then(|found| self.entry(found, &mut seen)))
            .collect();
        for file in instances::files(&self.dirs) {
            out.push(self.instance(&file, &scanned, &mut seen));
        }
        index.save();
        *self.listing.lock().unwrap() = out.clone();
        out
    }

    /// `found` as a plugin: its name is its file's stem, which must be a
    /// valid name not taken by an earlier file.
    fn entry(&self, found: Found, seen: &mut HashMap<String, PathBuf>) -> Result<Entry, String> {
        let shown = found.path.display();
        if found.world.is_none() {
            return Err(format!(
                "{shown}: exports neither `{}` (a connector) nor `{}` (a function)",
                discover::CONNECTOR_EXPORT,
                discover::FUNCTION_EXPORT
            ));
        }
        let name = found.stem();
        if let Some(why) = bounds::name_problem(&name) {
            return Err(format!("{shown}: {why}; rename the file"));
        }
        if let Some(first) = seen.get(&name) {
            return Err(format!(
                "{shown}: a plugin named `{name}` is already loaded from {}",
                first.display()
            ));
        }
        seen.insert(name.clone(), found.path.clone());
        let grants = self
            .grants_for(&found, &name)
            .and_then(|g| match &g.component {
                Some(_) => Err(format!(
                    "{}: `component` is for an instance file; this one configures {name}.wasm \
                 beside it: remove the line, or rename the file to make an instance",
                    found.path.with_extension("toml").display()
                )),
                None => Ok(g),
            });
        Ok(Entry::new(name, found, grants))
    }

    /// The instance `file` configures, of a component `scanned` found.
    fn instance(
        &self,
        file: &std::path::Path,
        scanned: &[Result<Found, String>],
        seen: &mut HashMap<String, PathBuf>,
    ) -> Result<Entry, String> {
        let shown = file.display();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(why) = bounds::name_problem(&name) {
            return Err(format!("{shown}: {why}; rename the file"));
        }
        let grants = Grants::load(file, &name, &self.cache.join("scratch"))?;
        let component = grants.component.as_deref().ok_or_else(|| {
            format!(
                "{shown}: no {name}.wasm beside it, and no `component = \"FILE.wasm\"` naming \
                 the component it configures"
            )
        })?;
        let path = instances::component_path(file, component)?;
        let found = scanned
            .iter()
            .flatten()
            .find(|f| f.path == path && f.world.is_some())
            .ok_or_else(|| {
                format!(
                    "{shown}: component `{component}`: no usable component at {}",
                    path.display()
                )
            })?;
        if let Some(first) = seen.get(&name) {
            return Err(format!(
                "{shown}: a plugin named `{name}` is already loaded from {}",
                first.display()
            ));
        }
        seen.insert(name.clone(), file.to_path_buf());
        Ok(Entry::new(name, found.clone(), Ok(grants)))
    }

    /// `entry` with its `info`, asked if need be (connectors only); an
    /// error says why the connector cannot be used.
    pub fn with_info(&self, mut entry: Entry) -> Result<Entry, String> {
        if entry.found.world == Some(World::Connector) && entry.info.is_none() {
            let info = self.connector_info(&entry.name).map_err(|e| {
                format!(
                    "{}: {}",
                    entry.found.path.display(),
                    detail(&entry.name, &e)
                )
            })?;
            entry.info = Some(info);
        }
        Ok(entry)
    }

    /// Whether `entry`'s compiled form is in the cache. Asks an engine for
    /// its compatibility hash, so only `plugins list` and `inspect` use it.
    pub fn is_compiled(&self, entry: &Entry) -> bool {
        let metered = entry.grants.as_ref().is_ok_and(|g| g.limits.fuel.is_some());
        self.runtimes
            .get(metered)
            .is_ok_and(|r| r.is_cached(&entry.found.sha256, &self.compiled_dir()))
    }

    /// Whether the plugin folders hold no component at all.
    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }

    /// The plugin called `name`. When a file of that name could not be
    /// used, the error says why.
    pub fn find(&self, name: &str) -> Result<Entry, Error> {
        // The last scan first; the folders again only for a name it lacks.
        let known = self.listing.lock().unwrap().clone();
        if let Some(e) = known.into_iter().flatten().find(|e| e.name == name) {
            return Ok(e);
        }
        let mut broken = None;
        for entry in self.list() {
            match entry {
                Ok(e) if e.name == name => return Ok(e),
                Err(why)
                    if why.contains(&format!("{name}.wasm: "))
                        || why.contains(&format!("{name}.toml: ")) =>
                {
                    broken = Some(why)
                }
                _ => {}
            }
        }
        if let Some(why) = broken {
            return Err(plugin_error(name, "load", why));
        }
        let folders: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        Err(plugin_error(
            name,
            "not-found",
            format!("no plugin by this name in {}", folders.join(", ")),
        ))
    }

    /// `name`, compiled and linked, checked to be of `world`. The folders
    /// are scanned only for a name not loaded before, so a plugin dropped
    /// in is found by the next call that asks for it.
    /// Whether function `name` is granted any outbound host: without one
    /// it reaches nothing outside keystep.
    pub fn reaches_outside(&self, name: &str) -> Result<bool, Error> {
        Ok(!self
            .load(name, World::Function)?
            .grants
            .allow_hosts
            .is_empty())
    }

    pub fn load(&self, name: &str, world: World) -> Result<Arc<Loaded>, Error> {
        let known = self.by_name.lock().unwrap().get(name).cloned();
        if let Some(loaded) = known.filter(|l| l.found.world == Some(world)) {
            return Ok(loaded);
        }
        let entry = self.find(name)?;
        if entry.found.world != Some(world) {
            let hint = match entry.found.world {
                Some(World::Connector) => format!(
                    " (run its actions with `keystep invoke {name} ACTION --args JSON`, \
                     list its app with `keystep sync {name} --dry-run`)"
                ),
                Some(World::Function) => format!(" (call it with `keystep call {name}`)"),
                None => String::new(),
            };
            let found = entry
                .found
                .world
                .map_or("component".into(), |w| w.to_string());
            return Err(plugin_error(
                name,
                "load",
                format!("is a {found}, not a {world}{hint}"),
            ));
        }
        let grants = entry.grants.map_err(|e| plugin_error(name, "load", e))?;
        let loaded = self.load_found(name, entry.found, grants)?;
        if world == World::Connector {
            // A connector whose `info` fails or lies is not used at all.
            self.info_of(&loaded)?;
        }
        self.by_name
            .lock()
            .unwrap()
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    fn load_found(&self, name: &str, found: Found, grants: Grants) -> Result<Arc<Loaded>, Error> {
        if let Some(loaded) = self.loaded.lock().unwrap().get(name)
            && loaded.found.path == found.path
            && loaded.found.sha256 == found.sha256
            && loaded.grants.fingerprint == grants.fingerprint
        {
            return Ok(loaded.clone());
        }
        let fail = |m: String| plugin_error(name, "load", m);
        let runtime = self
            .runtimes
            .get(grants.limits.fuel.is_some())
            .map_err(fail)?;
        let (component, _) = runtime
            .load(&found.path, &found.sha256, &self.compiled_dir())
            .map_err(fail)?;
        if let Some(dir) = &grants.scratch {
            std::fs::create_dir_all(dir).map_err(|e| {
                fail(format!(
                    "cannot create scratch directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let instance_pre = runtime.linker.instantiate_pre(&component).map_err(|e| {
            fail(format!(
                "cannot be linked: {e:#} (keystep provides WASI 0.2, whose sockets refuse \
                 every use, without wasi:http, and keystep:plugin@0.1.0 and @0.2.0)"
            ))
        })?;
        let pre = match found.world {
            Some(World::Function) if found.interface() == Interface::V0_2 => {
                bindings::v0_2::function::FunctionPre::new(instance_pre).map(Pre::FunctionV0_2)
            }
            Some(World::Function) => FunctionPre::new(instance_pre).map(Pre::Function),
            _ => ConnectorPre::new(instance_pre).map(Pre::Connector),
        }
        .map_err(|e| fail(format!("does not match its world: {e:#}")))?;
        let egress = if grants.allow_hosts.is_empty() {
            None
        } else {
            Some(Egress::new(grants.allow_hosts.clone()).map_err(fail)?)
        };
        let loaded = Arc::new(Loaded {
            name: name.to_string(),
            found,
            grants,
            egress,
            pre,
            info: OnceLock::new(),
        });
        self.loaded
            .lock()
            .unwrap()
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_error_reads_as_before_and_keeps_its_code() {
        let e = plugin_error("risk", "not-found", "no plugin by this name in p");
        assert_eq!(
            e.to_string(),
            "plugin `risk`: not-found: no plugin by this name in p"
        );
        assert_eq!(e.code.as_deref(), Some("not-found"));
        assert!(!e.is_retryable());
        assert_eq!(detail("risk", &e), "no plugin by this name in p");
        assert!(
            plugin_error("risk", "busy", "later")
                .retryable(true)
                .is_retryable()
        );
    }
}
