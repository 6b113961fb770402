//! Automation files: the YAML format of design section 2, parsed into a form
//! the engine runs, with every error naming file, line and column.
//!
//! - [`spec`] says what each step type accepts ([`StepSpec`]: its fields and
//!   shape checks); [`fields`] what each field holds.
//! - [`parse`] turns text into an [`Automation`], checking its shape against the
//!   step specs (step types, fields, CEL syntax).
//! - [`check`] checks what only a set of automations and the directory can tell
//!   (step ordering of `ctx.` references, literal users, templates,
//!   automations, cycles between automations).
//! - [`catalog`] finds automations by name in the configured folders.

pub mod breaker;
pub mod catalog;
pub mod check;
mod check_actions;
pub mod fields;
mod parse;
pub mod schedule;
pub mod spec;
mod yaml;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::expr::{Expr, Template};

pub use parse::parse;

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One problem found in an automation file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.column,
            self.message
        )
    }
}

/// A parsed automation, pinned to the exact text it was parsed from.
#[derive(Debug)]
pub struct Automation {
    pub name: String,
    pub description: Option<String>,
    pub trigger: Trigger,
    pub steps: Vec<StepDef>,
    /// `output:`, the run's result, rendered when its steps have succeeded.
    pub output: Option<Template>,
    /// `max_runs:`, the circuit breaker: beyond it new runs start paused.
    pub max_runs: Option<breaker::Breaker>,
    pub path: PathBuf,
    pub source: String,
    /// SHA-256 of `source`: the version a run is pinned to.
    pub hash: String,
}

/// What starts runs of an automation.
#[derive(Debug)]
pub struct Trigger {
    /// `manual`, `user_created`, `user_updated`, …
    pub kind: String,
    /// Optional condition on the trigger's data.
    pub when: Option<Expr>,
    /// Other trigger settings (`cron`, `timezone`, `app`, …), kept for the
    /// trigger matcher.
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub pos: Pos,
}

impl Trigger {
    /// Whether a run's trigger data passes the `when:` condition (no
    /// condition passes everything), its `directory.*` functions reading
    /// `directory`.
    pub fn holds(
        &self,
        trigger: &serde_json::Value,
        directory: &Arc<dyn crate::expr::Lookup>,
    ) -> Result<bool, String> {
        match &self.when {
            None => Ok(true),
            Some(when) => when.eval_bool(
                &crate::expr::Scope::new(&serde_json::json!({ "trigger": trigger }))
                    .reading(directory.clone()),
            ),
        }
    }
}

/// The trigger kinds and the settings each accepts besides `when`.
pub const TRIGGERS: &[(&str, &[&str])] = &[
    ("manual", &[]),
    ("user_created", &[]),
    ("user_updated", &[]),
    ("account_created", &["app"]),
    ("account_updated", &["app"]),
    ("grant_added", &["app", "entitlement"]),
    ("grant_removed", &["app", "entitlement"]),
    ("schedule", &["cron", "timezone", "for_each_user"]),
    ("webhook", &["secret"]),
];

/// One step of an automation.
#[derive(Debug)]
pub struct StepDef {
    pub id: String,
    /// The step type: `send_email`, `wait`, …
    pub kind: String,
    pub fields: Vec<FieldValue>,
    pub condition: Option<Expr>,
    /// Where the `if:` expression is.
    pub condition_pos: Pos,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    pub on_error: OnError,
    pub pos: Pos,
}

impl StepDef {
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Every expression of the step: its condition and its fields.
    pub fn exprs(&self) -> Vec<(&Expr, Pos)> {
        let mut out: Vec<(&Expr, Pos)> = Vec::new();
        if let Some(c) = &self.condition {
            out.push((c, self.condition_pos));
        }
        for f in &self.fields {
            out.extend(f.template.exprs().into_iter().map(|e| (e, f.pos)));
        }
        out
    }
}

/// A step field as written, compiled.
#[derive(Debug)]
pub struct FieldValue {
    pub name: String,
    pub template: Template,
    pub pos: Pos,
}

/// How a step retries errors that are marked retryable.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included; 1 means no retry.
    pub attempts: u32,
    pub backoff: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            backoff: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `next` (2, 3, …): exponential from `backoff`,
    /// capped at `max_delay`.
    pub fn delay_before(&self, next: u32) -> Duration {
        let factor = 2u32.saturating_pow(next.saturating_sub(2));
        self.backoff.saturating_mul(factor).min(self.max_delay)
    }
}

/// What a failed step does to its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    #[default]
    Fail,
    Continue,
}
