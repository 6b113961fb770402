//! The built-in steps: one file per step, every step the same shape.
//!
//! A step declares its fields ([`Field`]) and runs with its resolved input and
//! a [`StepCx`]. The engine knows steps only through the [`Step`] trait and
//! finds them by their YAML key in [`registry`]. Directory steps change the
//! directory through `cx.dir`, inside the same transaction that records the
//! step's result, which makes them exactly-once.

mod call_function;
mod create_account;
mod create_campaign;
mod fields;
mod grant_entitlements;
mod modify_delegate;
mod modify_user_status;
mod perform_connector_action;
mod perform_task_action;
mod plugin_directory;
mod provisioning;
mod remove_access_profiles;
mod revoke_entitlements;
mod run_automation;
mod run_webhook;
mod send_email;
mod send_slack_message;
mod target;
mod wait;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use std::sync::Arc;

use crate::automation::{Pos, StepDef};
use crate::directory::{DirError, Directory};
use crate::expr::Scope;
use crate::notify::Notifier;
use crate::plugins::{DirectoryAccess, Plugins};

pub use fields::{Field, FieldKind, parse_duration};
pub use plugin_directory::StoreReader;

/// One step type.
pub trait Step: Send + Sync {
    /// The key that names this step in an automation file.
    fn kind(&self) -> &'static str;
    /// The fields it accepts.
    fn fields(&self) -> &'static [Field];
    /// Shape checks beyond each field's own kind (one of two fields, a
    /// field's structure). Runs when an automation is parsed.
    fn check(&self, _step: &StepDef) -> Vec<(Pos, String)> {
        Vec::new()
    }
    /// Does the step's work. `input` holds the fields with every expression
    /// evaluated.
    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError>;
}

/// Every built-in step.
pub fn registry() -> &'static [&'static dyn Step] {
    &[
        &wait::Wait,
        &create_campaign::CreateCampaign,
        &revoke_entitlements::RevokeEntitlements,
        &grant_entitlements::GrantEntitlements,
        &modify_delegate::ModifyDelegate,
        &remove_access_profiles::RemoveAccessProfiles,
        &modify_user_status::ModifyUserStatus,
        &run_automation::RunAutomation,
        &perform_task_action::PerformTaskAction,
        &call_function::CallFunction,
        &perform_connector_action::PerformConnectorAction,
        &create_account::CreateAccount,
        &send_email::SendEmail,
        &send_slack_message::SendSlackMessage,
        &run_webhook::RunWebhook,
    ]
}

/// Finds a step type by its YAML key.
pub fn lookup(kind: &str) -> Option<&'static dyn Step> {
    registry().iter().copied().find(|s| s.kind() == kind)
}

/// What a step hands back to the engine.
#[derive(Debug)]
pub enum Outcome {
    /// Finished with this output.
    Done(Json),
    /// Finishes with `output` once `until` has passed (a durable timer).
    Sleep { until: DateTime<Utc>, output: Json },
    /// Finishes when the run `run_id` ends, with its result.
    AwaitRun { run_id: i64 },
}

/// A step failure: a message for people, and whether trying again may help.
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    pub message: String,
    pub retryable: bool,
}

impl StepError {
    /// A failure that the same input will always produce.
    pub fn fatal(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure that may pass on another attempt.
    pub fn transient(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: true,
        }
    }
}

impl From<crate::error::Error> for StepError {
    fn from(e: crate::error::Error) -> StepError {
        StepError {
            retryable: e.is_retryable(),
            message: e.message,
        }
    }
}

impl From<DirError> for StepError {
    fn from(e: DirError) -> StepError {
        StepError {
            retryable: e.is_transient(),
            message: e.to_string(),
        }
    }
}

/// The run a step belongs to, as a step sees it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: i64,
    pub automation: String,
    /// The user the run is about, if any.
    pub subject: Option<String>,
    /// The automations that led here, outermost first, this one last.
    pub lineage: Vec<String>,
}

/// Starts runs on a step's behalf, inside the step's transaction.
pub trait RunStarter {
    /// Starts `automation` as a child of the current run with `trigger` as
    /// its `ctx.trigger`; returns the new run's id.
    fn start_child(&self, automation: &str, trigger: Json) -> Result<i64, StepError>;
}

/// Everything a step may use while it runs.
pub struct StepCx<'a> {
    /// The step as written: which values are literal YAML (only those may be
    /// keywords such as `subject` and `all`), and its templates.
    pub def: &'a StepDef,
    /// What the step's expressions were evaluated against.
    pub scope: &'a Scope,
    pub dir: &'a Directory<'a>,
    pub runs: &'a dyn RunStarter,
    pub run: &'a RunInfo,
    pub step_id: &'a str,
    pub attempt: u32,
    pub now: DateTime<Utc>,
    pub plugins: &'a PluginCx,
    pub notify: &'a Notifier,
    /// A dry run: steps with outside effects describe them instead.
    pub dry_run: bool,
}

impl StepCx<'_> {
    /// `run_id/step_id/attempt`: what connectors receive to make a change
    /// idempotent. A replay after a crash has the same key, because the
    /// rolled-back attempt is tried again under its own number.
    pub fn idempotency_key(&self) -> String {
        format!("{}/{}/{}", self.run.id, self.step_id, self.attempt)
    }
}

/// The plugin host as steps reach it, with the read-only directory that
/// functions get through their `directory` import.
pub struct PluginCx {
    pub host: Arc<Plugins>,
    pub directory: Arc<dyn DirectoryAccess>,
}
