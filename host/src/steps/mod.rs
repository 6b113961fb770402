//! The built-in steps: one file per step, every step the same shape.
//!
//! A step points at its schema (a [`StepSpec`] of the model layer: its YAML
//! key, fields and shape checks, which parsing reads) and says how it runs,
//! in up to three phases ([`Phases`], design section 7):
//!
//! - *plan*: from the resolved input and the directory as committed (a
//!   read connection), decide what to do; a step whose plan needs only its
//!   input (`call_function`, `run_webhook`) plans with no read at all
//!   ([`Phases::Direct`]);
//! - *perform*: the outside effect (an [`Effect`]), which the engine carries
//!   out with no transaction open, under the step's timeout;
//! - *settle*: the directory changes that follow, inside the transaction
//!   that records the attempt and the run's next state.
//!
//! A step that only changes the directory has only a settle phase, which
//! makes it exactly-once. The engine knows steps only through the [`Step`]
//! trait and finds them by their YAML key in [`registry`].

mod call_function;
mod create_account;
mod create_campaign;
mod grant_entitlements;
mod modify_delegate;
mod modify_user_status;
mod perform_connector_action;
mod perform_task_action;
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

use crate::automation::StepDef;
use crate::automation::spec::StepSpec;
use crate::directory::DirectoryChanges;
use crate::effects::{Effect, Performed};
use crate::error::Error;
use crate::expr::Scope;
use crate::plugins::Plugins;

/// A step's fields with every expression evaluated.
pub type Input = Map<String, Json>;

/// One step type.
pub trait Step: Send + Sync {
    /// What it accepts: its YAML key, fields and shape checks.
    fn spec(&self) -> &'static StepSpec;
    /// How the step runs.
    fn phases(&self) -> Phases;
}

/// How a step runs (see the module docs).
#[derive(Clone, Copy)]
pub enum Phases {
    /// Directory work only: runs inside the transaction that records the
    /// attempt, so it happens exactly once.
    Settle(fn(&Input, &StepCx<'_>) -> Result<Outcome, Error>),
    /// Plans against the committed directory; what it plans is performed
    /// and settled by the engine.
    Plan(fn(&Input, &StepCx<'_>) -> Result<Plan, Error>),
    /// Plans from its input and the step alone, reading nothing: no read
    /// transaction is opened for it, and it plans where the run moves.
    Direct(fn(&Input, &Planning<'_>) -> Result<Plan, Error>),
}

/// What a [`Phases::Direct`] plan sees: the step and its run.
pub struct Planning<'a> {
    pub def: &'a StepDef,
    pub run: &'a RunInfo,
}

/// What a step's plan phase decided.
pub enum Plan {
    /// An outside effect, then what follows from its result.
    Perform { effect: Effect, then: Then },
    /// Nothing outside to do after all: settle at once, in one transaction.
    Settle(Settle),
}

/// The settle phase after an effect: given what it answered, inside the
/// transaction that records the attempt.
pub type Then = Box<dyn FnOnce(&StepCx<'_>, Performed) -> Result<Outcome, Error> + Send>;

/// A settle phase decided by a plan.
pub type Settle = Box<dyn FnOnce(&StepCx<'_>) -> Result<Outcome, Error> + Send>;

impl Plan {
    /// Performs `effect`; `then` makes the step's outcome of its answer.
    pub fn perform(
        effect: Effect,
        then: impl FnOnce(&StepCx<'_>, Performed) -> Result<Outcome, Error> + Send + 'static,
    ) -> Plan {
        Plan::Perform {
            effect,
            then: Box::new(then),
        }
    }

    /// Performs `effect`; its answer, as it is, is the step's output.
    pub fn output_of(effect: Effect) -> Plan {
        Plan::perform(effect, |_, performed| {
            Ok(Outcome::Done(performed.into_json()))
        })
    }
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
    registry().iter().copied().find(|s| s.spec().kind == kind)
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
    fn start_child(&self, automation: &str, trigger: Json) -> Result<i64, Error>;
}

/// Everything a step may use in its plan and settle phases. In the plan
/// phase `dir` reads the committed directory and refuses every change
/// ([`crate::directory::ReadOnly`]); in the settle phase it is the open
/// transaction.
pub struct StepCx<'a> {
    /// The step as written: which values are literal YAML (only those may be
    /// keywords such as `subject` and `all`), and its templates.
    pub def: &'a StepDef,
    /// What the step's expressions were evaluated against.
    pub scope: &'a Scope,
    pub dir: &'a dyn DirectoryChanges,
    pub runs: &'a dyn RunStarter,
    pub run: &'a RunInfo,
    pub attempt: u32,
    pub now: DateTime<Utc>,
    /// The plugin host, to read what a connector declares (`info`).
    pub plugins: &'a Plugins,
}

impl StepCx<'_> {
    /// `run_id/step_id/attempt`: what connectors, mail and Slack receive to
    /// make a change idempotent. A replay after a crash has the same key,
    /// because the attempt left performing is performed again under its
    /// own number.
    pub fn idempotency_key(&self) -> String {
        key(self.run.id, &self.def.id, self.attempt)
    }
}

/// The idempotency key of attempt `attempt` of step `step` in run `run`.
pub fn key(run: i64, step: &str, attempt: u32) -> String {
    format!("{run}/{step}/{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::spec::specs;

    /// Every step type a file may name runs, and every step that runs can be
    /// named: one implementation per spec, one spec per implementation.
    #[test]
    fn one_step_per_spec() {
        for spec in specs() {
            let steps: Vec<_> = registry()
                .iter()
                .filter(|s| std::ptr::eq(s.spec(), *spec))
                .collect();
            assert_eq!(steps.len(), 1, "`{}` has {} steps", spec.kind, steps.len());
        }
        for step in registry() {
            let spec = step.spec();
            let listed = specs().iter().filter(|s| std::ptr::eq(**s, spec)).count();
            assert_eq!(listed, 1, "`{}` is listed {listed} times", spec.kind);
            assert!(std::ptr::eq(lookup(spec.kind).unwrap().spec(), spec));
        }
    }
}
