//! One call's sandbox: the store's data, its limits, and how a failure is
//! put into words.
//!
//! Every call gets a fresh `Store` and instance. The WASI context has no
//! arguments, environment, preopened directories (but an optional scratch
//! directory) or network: the socket interfaces are linked (a component
//! built with std imports them) but refuse every use. stdout is discarded
//! and stderr is kept (bounded) so that a panic message can be shown with
//! the error. The call's granted secrets are read once, when its store is
//! made, and scrubbed from all it says ([`scrub`](super::scrub)).

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{directory, host, types, v0_2};
use super::bounds;
use super::runtime::{self, Runtime};
use super::scrub::{self, Scrub, Secrets};
use super::stderr::Tail;
use super::{DirectoryAccess, Loaded, plugin_error};
use crate::error::Error;
use crate::text::escape;

/// How much of a plugin's stderr (its end) is kept for error messages.
const STDERR_BYTES: usize = 8 << 10;

/// The data of a call's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    stderr: Tail,
    pub(super) plugin: Arc<Loaded>,
    pub(super) deadline: Instant,
    pub(super) directory: Option<Arc<dyn DirectoryAccess>>,
    /// Bytes of log charged so far, and lines dropped past the budget.
    pub(super) log_used: usize,
    pub(super) log_dropped: usize,
    /// The granted secrets' values, to hand out and to scrub.
    pub(super) secrets: Secrets,
    /// What the call's `http-fetch`es took.
    pub(super) http: HttpSpent,
    /// Every `http-fetch` is refused ([`super::Plugins::go_offline`]).
    pub(super) offline: bool,
}

/// The `http-fetch`es of one call: how many, and the time spent waiting
/// for them (a sync's measure of the plugin's own share).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HttpSpent {
    pub requests: u32,
    pub time: std::time::Duration,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces the memory limit over the whole call: the sum of every linear
/// memory and table of the instance (a component may hold several), not
/// each one alone. Remembers that it did.
struct Limiter {
    memory_bytes: usize,
    /// Bytes of memories and tables so far.
    used: usize,
    exceeded: bool,
}

/// What a table element is counted as: a pointer.
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

impl Limiter {
    /// Grows the total by `to - from` bytes, if it stays within the limit.
    fn grow(&mut self, from: usize, to: usize) -> wasmtime::Result<bool> {
        let total = (self.used - from.min(self.used)).saturating_add(to);
        if total > self.memory_bytes {
            self.exceeded = true;
            return Err(wasmtime::Error::msg("memory limit reached"));
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn instances(&self) -> usize {
        runtime::MAX_CORE_INSTANCES as usize
    }

    fn memories(&self) -> usize {
        runtime::MAX_MEMORIES as usize
    }

    fn tables(&self) -> usize {
        runtime::MAX_TABLES as usize
    }
}

/// Adds WASI (p2, sync) and keystep's imports to `linker`. One linker
/// serves both worlds; a connector simply doesn't import `directory`.
pub fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    link_keystep(linker)
}

/// [`link`] with WASI's async host functions, for calls made with
/// wasmtime's async API ([`super::async_calls`]).
pub fn link_async(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    link_keystep(linker)
}

/// keystep's own imports, of every version (synchronous host functions,
/// which an async call may use too).
fn link_keystep(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    directory::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_2::types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_2::host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_2::directory::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// The insecure random seed of a plugin with a fuel budget (see [`store`]).
const METERED_SEED: u128 = 0x6b65_7973_7465_705f_6675_656c_5f73_6565;

/// A fresh store for one call of `plugin`.
pub fn store(
    runtime: &Runtime<HostState>,
    plugin: &Arc<Loaded>,
    directory: Option<Arc<dyn DirectoryAccess>>,
    offline: bool,
) -> Result<Store<HostState>, String> {
    let limits = &plugin.grants.limits;
    let stderr = Tail::new(STDERR_BYTES);
    let mut wasi = WasiCtxBuilder::new();
    wasi.stderr(stderr.clone());
    // No network through WASI, whatever wasmtime's defaults are.
    wasi.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    if limits.fuel.is_some() {
        // A fuel budget promises that the same call needs the same fuel.
        // Guests seed their hash maps from WASI's insecure seed (Rust's
        // `RandomState` does), and a random seed moves a map's probing, so
        // a metered plugin gets a fixed one. Its secure random stays random.
        wasi.insecure_random_seed(METERED_SEED);
    }
    if let Some(dir) = &plugin.grants.scratch {
        wasi.preopened_dir(dir, "/scratch", FsPerms::ReadWrite)
            .map_err(|e| format!("cannot open scratch directory {}: {e}", dir.display()))?;
    }
    let secrets = Secrets::read(&plugin.grants.secrets)?;
    let deadline = Instant::now() + limits.timeout;
    let state = HostState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        limiter: Limiter {
            memory_bytes: limits.memory_bytes,
            used: 0,
            exceeded: false,
        },
        stderr,
        plugin: plugin.clone(),
        deadline,
        directory,
        log_used: 0,
        log_dropped: 0,
        secrets,
        http: HttpSpent::default(),
        offline,
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|s| &mut s.limiter);
    match &plugin.grants.scratch {
        Some(dir) => super::scratch::watch(&mut store, dir.clone(), limits.clone(), deadline),
        None => {
            store.set_epoch_deadline(runtime::ticks(limits.timeout));
            store.epoch_deadline_trap();
        }
    }
    if let Some(fuel) = limits.fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| format!("cannot set fuel: {e}"))?;
    }
    Ok(store)
}

impl HostState {
    /// `text` with every granted secret's value replaced.
    pub(super) fn scrub(&self, text: &str) -> String {
        self.secrets.scrubber().text(text).into_owned()
    }

    /// What the call returned, scrubbed.
    pub(super) fn scrub_output<R: Scrub>(&self, output: R) -> R {
        output.scrub(
            self.secrets.scrubber(),
            self.plugin.grants.limits.output_bytes,
        )
    }

    /// The plugin's own error: its message scrubbed, its lines kept (a
    /// traceback reads as one) but indented, its code scrubbed and checked
    /// to be a short `[a-z0-9-]` word.
    pub(super) fn plugin_error(&self, e: types::Error) -> Error {
        let (code, valid) = scrub::error_code(self.secrets.scrubber(), &e.code);
        let message = bounds::message(self.scrub(&e.message));
        let mut message = crate::text::escape_indented(&message, "    ");
        if !valid {
            message.push_str(" (its error code was not a short [a-z0-9-] word)");
        }
        plugin_error(&self.plugin.name, &code, message).retryable(e.retryable)
    }

    /// Puts a failed call into words: which limit it hit, or how it trapped,
    /// with the end of what the plugin wrote to stderr.
    pub(super) fn describe(&self, err: &wasmtime::Error) -> String {
        let limits = &self.plugin.grants.limits;
        let what = if self.limiter.exceeded {
            format!(
                "used more than its memory limit of {} MiB",
                limits.memory_bytes >> 20
            )
        } else {
            match err.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => format!(
                    "ran past its time limit of {}",
                    humantime::format_duration(limits.timeout)
                ),
                Some(Trap::OutOfFuel) => format!(
                    "ran out of fuel (its budget is {} instructions)",
                    limits.fuel.unwrap_or_default()
                ),
                Some(Trap::StackOverflow) => {
                    "exhausted its call stack (runaway recursion?)".to_string()
                }
                Some(Trap::UnreachableCodeReached) => {
                    "trapped: it hit `unreachable` (a panic or abort inside the plugin)".to_string()
                }
                Some(trap) => format!("trapped: {trap}"),
                None => format!("failed: {err:#}"),
            }
        };
        let stderr = self.stderr.text();
        let tail = super::stderr::shown(&stderr).join(" | ");
        let what = if tail.is_empty() {
            what
        } else {
            format!("{what}; its stderr: {tail}")
        };
        escape(&self.scrub(&what)).into_owned()
    }
}
