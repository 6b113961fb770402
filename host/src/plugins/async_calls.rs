//! A prototype for the plugins benchmark only: function calls on
//! wasmtime's async support, yielding to the executor at every epoch tick
//! and trapping at the time limit, measured against the blocking pool
//! ([`super::pool`]) that keystep uses. It serves functions without fuel,
//! scratch directory or outbound hosts: `http-fetch` (reqwest's blocking
//! client) and the `directory` import block their thread, which on a
//! runtime worker would stall every task of that worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value as Json;
use wasmtime::UpdateDeadline;
use wasmtime::component::Linker;

use super::bindings::function_async::FunctionPre;
use super::calls::{check_size, finish, parse_output};
use super::sandbox::{self, HostState};
use super::{Loaded, Plugins, Pre, World, plugin_error};
use crate::error::Error;

/// A function as loaded by the host, with its async instance-pre.
type Linked = (Arc<Loaded>, Arc<FunctionPre<HostState>>);

/// Functions called with wasmtime's async API.
pub struct AsyncFunctions {
    plugins: Arc<Plugins>,
    /// WASI's async host functions and keystep's imports, on the engine of
    /// `plugins` (one engine serves sync and async calls).
    linker: Linker<HostState>,
    pres: Mutex<HashMap<String, Linked>>,
}

impl AsyncFunctions {
    pub fn new(plugins: Arc<Plugins>) -> Result<AsyncFunctions, Error> {
        let runtime = plugins.runtimes.get(false).map_err(Error::fatal)?;
        let mut linker = Linker::new(&runtime.engine);
        sandbox::link_async(&mut linker)
            .map_err(|e| Error::fatal(format!("cannot link the host: {e}")))?;
        Ok(AsyncFunctions {
            plugins,
            linker,
            pres: Mutex::default(),
        })
    }

    /// Function `name` on `input`, as [`Plugins::call_function`] does it.
    pub async fn call_function(&self, name: &str, input: &Json) -> Result<Json, Error> {
        let (plugin, pre) = self.pre(name)?;
        let input = input.to_string();
        let limit = plugin.grants.limits.input_bytes;
        check_size(&plugin, "input", input.len(), limit)?;
        let mut store = self.plugins.sandbox(&plugin, None)?;
        let deadline = store.data().deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        let result = match pre.instantiate_async(&mut store).await {
            Ok(function) => function.call_call(&mut store, &input).await,
            Err(e) => Err(e),
        };
        let output = finish(&plugin, &store, result, &self.plugins.calls)?;
        parse_output(&plugin, &output)
    }

    /// `name`, loaded by the host and linked for async calls, once.
    fn pre(&self, name: &str) -> Result<Linked, Error> {
        if let Some(known) = self.pres.lock().unwrap().get(name) {
            return Ok(known.clone());
        }
        let plugin = self.plugins.load(name, World::Function)?;
        let grants = &plugin.grants;
        if grants.limits.fuel.is_some() || grants.scratch.is_some() || plugin.egress.is_some() {
            let why = "the async prototype serves no fuel, scratch or outbound hosts";
            return Err(plugin_error(name, "load", why));
        }
        let Pre::Function(sync) = &plugin.pre else {
            let why = "the async prototype serves functions of keystep:plugin@0.1.0 only";
            return Err(plugin_error(name, "load", why));
        };
        let pre = self
            .linker
            .instantiate_pre(sync.instance_pre().component())
            .and_then(FunctionPre::new)
            .map_err(|e| plugin_error(name, "load", format!("{e:#}")))?;
        let known = (plugin, Arc::new(pre));
        self.pres
            .lock()
            .unwrap()
            .insert(name.to_string(), known.clone());
        Ok(known)
    }
}
