//! keystep: an identity-governance automation engine.
//!
//! Automations are YAML files of steps that run when something happens to an
//! identity. The modules follow the data (see `shared/design.md`):
//!
//! ```text
//! cli                        the face: parse input, print, answer
//!  └─► app                   composition root: config ─► store, effects, plugins, engine
//!       └─► triggers         the event matcher, the automations serve serves
//!       └─► engine           runs: state machine, many at once, leases
//!            └─► steps/*     plan · perform · settle, one file per step
//!                 ├─► effects    mail, Slack, webhooks, plugin calls; a recorder for dry runs
//!                 │    ├─► notify    SMTP, Slack, signed webhooks, the outbox
//!                 │    └─► plugins   the wasmtime host (knows no workflows)
//!                 └─► directory ─► store (SQLite: runs, directory, event log)
//! automation (model: files, step specs, positions, checks) · config (plain data)
//! expr (CEL + {{ }}) · base: error, time, panics, files, secret, text
//! ```
//!
//! No module imports one that imports it back
//! (`python3 ../shared/tools/modcycles.py host/src`).

pub mod api;
pub mod app;
pub mod automation;
pub mod cli;
pub mod config;
pub mod directory;
pub mod effects;
pub mod engine;
pub mod error;
pub mod expr;
pub mod files;
pub mod fuzzing;
pub mod history;
pub mod notify;
pub mod panics;
pub mod plugins;
pub mod scaffold;
pub mod secret;
pub mod steps;
pub mod store;
pub mod suggest;
pub mod sync;
pub mod test_hook;
pub mod testing;
pub mod text;
pub mod time;
pub mod triggers;
