//! One transition of one run: an attempt of the step at its cursor, in its
//! phases, or the end of the attempt it waits on.
//!
//! A directory-only step settles in one transaction with the attempt's
//! record and the run's next state. A step with an outside effect plans
//! on a read connection, records the attempt as performing (the first
//! short transaction), performs the effect with no transaction open under
//! the step's timeout while the run's lease is renewed, and settles (the
//! second). Every transaction is guarded: if another process moved the run
//! meanwhile, it is rolled back and this process lets the run go.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use super::children::NoRuns;
use super::machine::{self, Next};
use super::{Engine, Observer};
use crate::automation::{Automation, StepDef};
use crate::directory::{DirectoryChanges, ReadOnly};
use crate::effects::Performed;
use crate::error::Error;
use crate::expr::Scope;
use crate::steps::{self, Input, Outcome, Phases, Plan, Planning, RunInfo, StepCx, Then};
use crate::store::StoreError;
use crate::store::runs::{self, Attempt, AttemptState, Run};

/// What one transition did.
#[derive(Debug, PartialEq)]
pub enum Transition {
    /// The run moved; call again.
    Advanced,
    /// The run waits (timer, backoff, child run).
    Parked,
    /// The run has ended.
    Ended,
    /// Another process moved the run first; this one backs off.
    Lost,
}

/// Why a step's transaction was rolled back.
pub(super) enum Failure {
    /// The step failed: recorded as a failed attempt.
    Step(Error),
    /// Another process moved the run.
    Lost,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Step(e.into())
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Step(e)
    }
}

/// The step a transition works on, and what its expressions see: owned, so
/// the store's writer thread can settle it.
#[derive(Clone)]
pub(super) struct At {
    automation: Arc<Automation>,
    index: usize,
    pub(super) scope: Arc<Scope>,
    pub(super) info: Arc<RunInfo>,
}

impl At {
    pub(super) fn automation(&self) -> &Arc<Automation> {
        &self.automation
    }

    pub(super) fn step(&self) -> &StepDef {
        &self.automation.steps[self.index]
    }

    /// How many transitions a run of the automation takes: one a step,
    /// and one for its `output:`.
    pub(super) fn steps(&self) -> usize {
        self.automation.steps.len() + usize::from(self.automation.output.is_some())
    }

    /// The step's place in its automation.
    pub(super) fn index(&self) -> usize {
        self.index
    }
}

/// The most steps that follow a settling step in its job: the job holds
/// the writer, so its length stays bounded.
const MOST_LINKS: usize = 15;

/// A directory-only step after the one being settled whose input is known
/// before that one settles: no `if:`, and fields that read nothing of
/// `ctx` but the trigger. If the step before moves the run straight on to
/// it, it settles in the same writer job, with its own attempt record and
/// the run's next state, and no trip from the writer to the run and back.
#[derive(Clone)]
pub(super) struct Link {
    pub(super) at: At,
    pub(super) settle: fn(&Input, &StepCx<'_>) -> Result<Outcome, Error>,
    pub(super) input: Input,
}

/// The settle phase's work, shipped to the writer.
pub(super) enum Settling {
    Local(fn(&Input, &StepCx<'_>) -> Result<Outcome, Error>, Input),
    Planned(steps::Settle),
    After(Then, Performed),
}

impl Engine {
    /// Moves `run` one step. `run` is what the store holds, kept up to date
    /// by each transition so the next need not read it back.
    pub(super) async fn transition(
        &self,
        run: &mut Run,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let next = machine::next(&run.position(), self.now());
        if matches!(next, Next::Ended | Next::Parked) {
            return Ok(match next {
                Next::Ended => Transition::Ended,
                _ => Transition::Parked,
            });
        }
        if let (Next::Wake, Some(due)) = (next, run.wake_at) {
            observer.woke(run, (self.now() - due).to_std().unwrap_or_default());
        }
        let automation = self.automation(&run.version)?;
        if run.cursor == automation.steps.len() && automation.output.is_some() {
            return self.finish(run, &automation, observer).await;
        }
        if run.cursor >= automation.steps.len() {
            anyhow::bail!("run {} is past its last step but has not ended", run.id);
        }
        let open = match next {
            Next::Wake => self.open_attempt(run, AttemptState::Waiting)?,
            Next::Recover => self.open_attempt(run, AttemptState::Performing)?,
            _ => None,
        };
        match open {
            Some(waiting) if waiting.state == AttemptState::Waiting => {
                self.wake(run, &automation, waiting, observer).await
            }
            // A process stopped while this attempt's effect was under way:
            // it is performed again, under its own number and key.
            Some(performing) => {
                self.attempt(run, automation, Some(performing), observer)
                    .await
            }
            // A retry's backoff has passed, or a step to begin.
            None => self.attempt(run, automation, None, observer).await,
        }
    }

    fn open_attempt(&self, run: &Run, state: AttemptState) -> anyhow::Result<Option<Attempt>> {
        self.store().read(|tx| {
            tx.runs()
                .open_attempt(&run.position(), state)
                .map_err(anyhow::Error::from)
        })
    }

    /// An attempt of the step at the cursor: a new one, or `replay`, left
    /// performing by a process that stopped.
    async fn attempt(
        &self,
        run: &mut Run,
        automation: Arc<Automation>,
        replay: Option<Attempt>,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let number = replay.as_ref().map_or(run.attempt + 1, |a| a.attempt);
        let started = replay
            .as_ref()
            .and_then(|a| crate::time::parse_ts(&a.started_at))
            .unwrap_or_else(|| self.now());
        let at = self.at(run, automation, number);
        let step = at.step();
        let record = replay
            .clone()
            .unwrap_or_else(|| machine::attempt(&run.position(), step, number, started));
        match step.condition.as_ref().map(|c| c.eval_bool(&at.scope)) {
            None | Some(Ok(true)) => {}
            Some(Ok(false)) => {
                let origin = runs::Origin::of(&record);
                let (record, next) = machine::skipped(&run.position(), record, at.steps());
                return self.commit(run, next, record, origin, observer).await;
            }
            Some(Err(e)) => {
                let e = Error::fatal(format!("`if`: {e}"));
                return self.fail(run, &at, record, e, observer).await;
            }
        }
        let input = match render_input(step, &at.scope) {
            Ok(input) => input,
            Err(e) => return self.fail(run, &at, record, e, observer).await,
        };
        let mut record = record;
        record.input = Some(Json::Object(input.clone()));
        let kind = steps::lookup(&step.kind).expect("parsed steps have known kinds");
        let plan = match kind.phases() {
            Phases::Settle(settle) => {
                let work = Settling::Local(settle, input);
                return self.settle(run, &at, record, work, observer).await;
            }
            Phases::Plan(plan) => self.plan(&at, plan, input, number).await,
            Phases::Direct(plan) => crate::panics::catch(|| {
                let step = Planning {
                    def: at.step(),
                    run: &at.info,
                };
                plan(&input, &step)
            })
            .unwrap_or_else(|panic| Err(plan_panicked(panic))),
        };
        match plan {
            Err(e) => self.fail(run, &at, record, e, observer).await,
            Ok(Plan::Settle(settle)) => {
                self.settle(run, &at, record, Settling::Planned(settle), observer)
                    .await
            }
            Ok(Plan::Perform { effect, then }) => {
                let replayed = replay.is_some();
                self.perform(run, &at, record, effect, then, replayed, observer)
                    .await
            }
        }
    }

    /// The step and what its expressions see.
    pub(super) fn at(&self, run: &Run, automation: Arc<Automation>, number: u32) -> At {
        let index = run.cursor;
        let step = &automation.steps[index];
        // Converting the context for CEL is the costliest part of a step
        // without much else to do; skip it when nothing reads it.
        let reads_ctx =
            step.condition.is_some() || step.fields.iter().any(|f| f.template.literal().is_none());
        let scope = if reads_ctx {
            self.scope(&context(run, number))
        } else {
            Scope::empty()
        };
        let info = RunInfo {
            id: run.id,
            automation: run.automation.clone(),
            subject: run.subject_id.clone(),
            lineage: run.lineage.clone(),
        };
        At {
            automation,
            index,
            scope: Arc::new(scope),
            info: Arc::new(info),
        }
    }

    /// The steps that may follow the one `at` works on in its job: the
    /// directory-only steps after it whose input can be rendered now.
    pub(super) fn links(&self, run: &Run, at: &At) -> Vec<Link> {
        let mut links = Vec::new();
        let mut trigger = None;
        let last = at.automation.steps.len().min(at.index + 1 + MOST_LINKS);
        for index in at.index + 1..last {
            let step = &at.automation.steps[index];
            let kind = steps::lookup(&step.kind).expect("parsed steps have known kinds");
            let Phases::Settle(settle) = kind.phases() else {
                break;
            };
            let mut exprs = step.fields.iter().flat_map(|f| f.template.exprs());
            if step.condition.is_some() || !exprs.all(|e| e.reads_only(&["trigger"])) {
                break;
            }
            let scope = if step.fields.iter().all(|f| f.template.literal().is_some()) {
                Arc::new(Scope::empty())
            } else {
                let scope = trigger.get_or_insert_with(|| {
                    Arc::new(Scope::new(&json!({ "trigger": run.trigger })))
                });
                scope.clone()
            };
            // A field that does not render fails in its own transition.
            let Ok(input) = render_input(step, &scope) else {
                break;
            };
            let at = At {
                automation: at.automation.clone(),
                index,
                scope,
                info: at.info.clone(),
            };
            links.push(Link { at, settle, input });
        }
        links
    }

    /// The plan phase, on a read connection and off the runtime's workers
    /// (it may ask a connector for its `info`).
    async fn plan(
        &self,
        at: &At,
        plan: fn(&Input, &StepCx<'_>) -> Result<Plan, Error>,
        input: Input,
        attempt: u32,
    ) -> Result<Plan, Error> {
        let (engine, at, now) = (self.clone(), at.clone(), self.now());
        let planned = tokio::task::spawn_blocking(move || {
            crate::panics::catch(|| {
                engine.store().read(|tx| {
                    let dir = tx.directory();
                    let dir = ReadOnly(&*dir);
                    let cx = engine.cx(&at, &dir, &NoRuns, attempt, now);
                    plan(&input, &cx)
                })
            })
        })
        .await;
        match planned {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(plan_panicked(panic)),
            Err(e) => Err(Error::transient(format!("the plan was dropped: {e}"))),
        }
    }

    /// What a step sees in either phase.
    pub(super) fn cx<'a>(
        &'a self,
        at: &'a At,
        dir: &'a dyn DirectoryChanges,
        runs: &'a dyn steps::RunStarter,
        attempt: u32,
        now: DateTime<Utc>,
    ) -> StepCx<'a> {
        StepCx {
            def: at.step(),
            scope: &at.scope,
            dir,
            runs,
            run: &at.info,
            attempt,
            now,
            plugins: &self.inner.plugins,
        }
    }
}

/// The context a step's expressions see.
pub(super) fn context(run: &Run, attempt: u32) -> Json {
    let mut ctx = run.outputs.clone();
    ctx.insert("trigger".into(), run.trigger.clone());
    ctx.insert("run".into(), run_context(run, attempt));
    Json::Object(ctx)
}

/// `ctx.run`.
pub(super) fn run_context(run: &Run, attempt: u32) -> Json {
    json!({
        "id": run.id,
        "automation": run.automation,
        "version": run.version,
        "subject": run.subject_id,
        "attempt": attempt,
        "parent": run.parent_run,
        "started_at": run.created_at,
    })
}

fn plan_panicked(panic: impl std::fmt::Display) -> Error {
    Error::fatal(format!(
        "keystep failed inside this step's plan (a bug): {panic}"
    ))
}

fn render_input(step: &StepDef, scope: &Scope) -> Result<Map<String, Json>, Error> {
    let mut input = Map::new();
    for field in &step.fields {
        let value = field
            .template
            .render(scope)
            .map_err(|e| Error::fatal(format!("field `{}`: {e}", field.name)))?;
        input.insert(field.name.clone(), value);
    }
    Ok(input)
}
