//! keystep: an identity-governance automation engine.
//!
//! Automations are YAML files of steps that run when something happens to an
//! identity. The modules follow the data (see `shared/design.md`):
//!
//! ```text
//! cli ─► config ─► engine ─► steps/* ─► directory (store)
//!                    └─► store (sqlite): runs, timers, history
//! expr (CEL + {{ }} templates) is used by automation parsing and the engine.
//! ```

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
pub mod notify;
pub mod panics;
pub mod plugins;
pub mod secret;
pub mod steps;
pub mod store;
pub mod text;
pub mod time;
