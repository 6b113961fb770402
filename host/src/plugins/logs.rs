//! Plugins' log lines: the level written (`--log-level`, else
//! `$KEYSTEP_PLUGIN_LOG`, else `info`), where they go (stderr, or the
//! process's log under `keystep serve`), and the lines of the calls on a
//! thread, kept with a step attempt in run history ([`capturing_logs`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value as Json;

use crate::text::escape;

/// Where plugins' log lines go: standard error, or (under `keystep serve`)
/// the process's log, as events with the plugin's name.
static THROUGH_TRACING: AtomicBool = AtomicBool::new(false);

/// Sends plugins' log lines to `tracing` from now on.
pub fn log_through_tracing() {
    THROUGH_TRACING.store(true, Ordering::Relaxed);
}

/// How loud a plugin's log line is, quietest first.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// The quietest level written, as an index of [`LEVELS`]; `usize::MAX`
/// until set or first read from `$KEYSTEP_PLUGIN_LOG`.
static THRESHOLD: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Writes plugins' log lines of `level` and louder from now on (`trace`,
/// `debug`, `info`, `warn`, `error` or `off`), whatever
/// `$KEYSTEP_PLUGIN_LOG` says.
pub fn set_log_level(level: &str) -> Result<(), String> {
    match LEVELS.iter().position(|l| *l == level) {
        Some(rank) => {
            THRESHOLD.store(rank, Ordering::Relaxed);
            Ok(())
        }
        None => Err(format!(
            "`{level}` is not a log level: one of {}",
            LEVELS.join(", ")
        )),
    }
}

thread_local! {
    /// The log lines of the plugin calls on this thread, while
    /// [`capturing_logs`] is collecting them.
    static CAPTURED: std::cell::RefCell<Option<Vec<Json>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (plugin calls on this thread) and returns, with its result,
/// the log lines the plugins wrote, as `{plugin, level, message}`: those
/// the level lets through, each also written as usual.
pub fn capturing_logs<R>(f: impl FnOnce() -> R) -> (R, Vec<Json>) {
    let outer = CAPTURED.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = f();
    let lines = CAPTURED.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
    (result, lines.unwrap_or_default())
}

/// Writes a plugin's log line, tagged with its name: to stderr as
/// `[plugin NAME] LEVEL: message`, or as a `tracing` event. Lines below
/// the level set ([`set_log_level`], else `$KEYSTEP_PLUGIN_LOG`, else
/// `info`) are skipped.
pub(crate) fn log_line(plugin: &str, level: &str, message: &str) {
    let rank = |l: &str| LEVELS.iter().position(|x| *x == l).unwrap_or(2);
    let mut threshold = THRESHOLD.load(Ordering::Relaxed);
    if threshold == usize::MAX {
        threshold = rank(&std::env::var("KEYSTEP_PLUGIN_LOG").unwrap_or_default());
        THRESHOLD.store(threshold, Ordering::Relaxed);
    }
    if rank(level) < threshold {
        return;
    }
    CAPTURED.with(|c| {
        if let Some(lines) = c.borrow_mut().as_mut() {
            lines.push(serde_json::json!({"plugin": plugin, "level": level, "message": message}));
        }
    });
    let (plugin, message) = (escape(plugin), escape(message));
    if !THROUGH_TRACING.load(Ordering::Relaxed) {
        eprintln!("[plugin {plugin}] {level}: {message}");
        return;
    }
    let line = format!("[plugin {plugin}] {message}");
    match level {
        "error" => tracing::error!(plugin = %plugin, "{line}"),
        "warn" => tracing::warn!(plugin = %plugin, "{line}"),
        _ => tracing::info!(plugin = %plugin, "{line}"),
    }
}
