//! One transition of one run: start a step attempt, or finish the one it
//! waits on, and commit the result with the run's next state.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use super::children::ChildStarter;
use super::{Engine, Observer};
use crate::automation::{OnError, StepDef};
use crate::directory::Directory;
use crate::expr::Scope;
use crate::steps::{self, Outcome, RunInfo, StepCx, StepError};
use crate::store::runs::{self, Attempt, Run, RunUpdate};
use crate::store::{parse_ts, ts};

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

/// How a waiting attempt ends.
enum Finish {
    Done(Json),
    Failed(StepError),
}

/// Why a step's transaction was rolled back.
enum Failure {
    Step(StepError),
    Db(rusqlite::Error),
    Lost,
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Db(e)
    }
}

/// Far enough ahead to mean "until woken".
fn never() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
        .unwrap()
        .to_utc()
}

/// The step a transition works on, and how many steps the run has.
struct At<'a> {
    step: &'a StepDef,
    steps: usize,
}

impl Engine<'_> {
    /// Moves `run` one step. `run` is what the store holds, kept up to date
    /// by each transition so the next need not read it back.
    pub(super) fn transition(
        &self,
        run: &mut Run,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let conn = self.store.conn();
        if run.is_terminal() {
            return Ok(Transition::Ended);
        }
        let id = run.id;
        let automation = self.automation(&run.version)?;
        let Some(step) = automation.steps.get(run.cursor) else {
            anyhow::bail!("run {id} is past its last step but has not ended");
        };
        let at = At {
            step,
            steps: automation.steps.len(),
        };
        if run.state == "waiting" {
            if run.wake_at.is_some_and(|w| w > self.clock.now()) {
                return Ok(Transition::Parked);
            }
            if let Some(waiting) = runs::waiting_attempt(conn, run)? {
                return self.resume_waiting(run, &at, waiting, observer);
            }
            // A retry's backoff has passed: a new attempt.
        }
        self.attempt(run, &at, observer)
    }

    /// Starts attempt `run.attempt + 1` of the step at the cursor.
    fn attempt(
        &self,
        run: &mut Run,
        at: &At,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let step = at.step;
        let number = run.attempt + 1;
        let started = self.clock.now();
        // Converting the context for CEL is the costliest part of a step
        // without much else to do; skip it when nothing reads it.
        let reads_ctx =
            step.condition.is_some() || step.fields.iter().any(|f| f.template.literal().is_none());
        let scope = if reads_ctx {
            Scope::new(&context(run, number))
        } else {
            Scope::empty()
        };
        let mut record = Attempt {
            run_id: run.id,
            step_index: run.cursor,
            step_id: step.id.clone(),
            kind: step.kind.clone(),
            attempt: number,
            state: String::new(),
            input: None,
            output: None,
            error: None,
            retryable: None,
            started_at: ts(started),
            finished_at: None,
        };
        match step.condition.as_ref().map(|c| c.eval_bool(&scope)) {
            None | Some(Ok(true)) => {}
            Some(Ok(false)) => {
                record.state = "skipped".into();
                record.finished_at = Some(ts(started));
                let next = RunUpdate::advance(run, None, at.steps);
                return self.commit(run, &next, &record, false, observer);
            }
            Some(Err(e)) => {
                return self.fail(
                    run,
                    at,
                    record,
                    StepError::fatal(format!("`if`: {e}")),
                    observer,
                );
            }
        }
        let input = match render_input(step, &scope) {
            Ok(input) => input,
            Err(e) => return self.fail(run, at, record, e, observer),
        };
        record.input = Some(Json::Object(input.clone()));
        let kind = steps::lookup(&step.kind).expect("parsed steps have known kinds");
        let info = RunInfo {
            id: run.id,
            automation: run.automation.clone(),
            subject: run.subject_id.clone(),
            lineage: run.lineage.clone(),
        };
        let actor = format!("run {}/{}/{number}", run.id, step.id);
        let seen: &Run = run;
        // The step runs inside the transaction that records it; the guard in
        // `runs::update` rolls everything back if another process moved the
        // run meanwhile.
        let written = self
            .store
            .write(|conn| -> Result<(Attempt, RunUpdate), Failure> {
                let run = seen;
                let dir = Directory::new(conn, actor.clone());
                let starter = ChildStarter {
                    conn,
                    catalog: &self.catalog,
                    parent: &info,
                    max_depth: self.max_depth,
                    now: started,
                };
                let mut cx = StepCx {
                    def: step,
                    scope: &scope,
                    dir: &dir,
                    runs: &starter,
                    run: &info,
                    step_id: &step.id,
                    attempt: number,
                    now: started,
                    plugins: &self.plugins,
                    notify: &self.notifier,
                    dry_run: self.dry_run,
                };
                let outcome = kind.run(&input, &mut cx).map_err(Failure::Step)?;
                super::test_hook::hold(&actor);
                let finished = self.clock.now();
                let mut record = record.clone();
                let next = match outcome {
                    Outcome::Done(output) => {
                        record.state = "succeeded".into();
                        record.finished_at = Some(ts(finished));
                        record.output = Some(output.clone());
                        RunUpdate::advance(run, Some((step.id.clone(), output)), at.steps)
                    }
                    Outcome::Sleep { until, output } => {
                        record.state = "waiting".into();
                        record.output = Some(output);
                        let wake = if self.dry_run {
                            finished
                        } else {
                            until.min(deadline(step, started))
                        };
                        RunUpdate::wait(run, number, wake, None)
                    }
                    Outcome::AwaitRun { run_id } => {
                        record.state = "waiting".into();
                        RunUpdate::wait(run, number, deadline(step, started), Some(run_id))
                    }
                };
                if !runs::update(conn, run, &next, &self.owner, finished, self.lease_until())? {
                    return Err(Failure::Lost);
                }
                runs::insert_attempt(conn, &record)?;
                Ok((record, next))
            });
        super::test_hook::released(&actor);
        match written {
            Ok((record, next)) => self.report(run, &record, &next, observer),
            Err(Failure::Lost) => Ok(Transition::Lost),
            Err(Failure::Step(e)) => self.fail(run, at, record, e, observer),
            Err(Failure::Db(e)) => self.fail(run, at, record, self.store_failure(e), observer),
        }
    }

    /// A waiting attempt whose time has come: a timer that fired, a child
    /// run that ended, or a deadline that passed.
    fn resume_waiting(
        &self,
        run: &mut Run,
        at: &At,
        waiting: Attempt,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let step = at.step;
        let now = self.clock.now();
        let started = parse_ts(&waiting.started_at).unwrap_or(now);
        let timed_out = now >= deadline(step, started);
        let finish = match run.awaiting_run {
            Some(child_id) => match runs::load(self.store.conn(), child_id)? {
                Some(child) if child.state == "succeeded" => Finish::Done(
                    json!({ "run_id": child.id, "state": child.state, "output": child.outputs }),
                ),
                Some(child) if child.is_terminal() => Finish::Failed(StepError {
                    message: format!(
                        "child run {} ({}) {}: {}",
                        child.id,
                        child.automation,
                        child.state,
                        child.error.unwrap_or_default()
                    ),
                    retryable: child.state == "failed",
                }),
                Some(child) if timed_out => {
                    self.cancel(
                        child.id,
                        &format!("parent run {} timed out waiting", run.id),
                    )?;
                    Finish::Failed(timeout_error(step))
                }
                _ => {
                    // Not done and not late: wait again (the child wakes us).
                    let next = RunUpdate::wait(
                        run,
                        run.attempt,
                        deadline(step, started),
                        run.awaiting_run,
                    );
                    let lease_until = self.lease_until();
                    if !self.store.write(|conn| {
                        runs::update(conn, run, &next, &self.owner, now, lease_until)
                    })? {
                        return Ok(Transition::Lost);
                    }
                    run.apply(&next, &self.owner, lease_until);
                    return Ok(Transition::Parked);
                }
            },
            // A timer woken by its deadline before its time has timed out.
            None => match waiting
                .output
                .as_ref()
                .and_then(|o| o.get("until"))
                .and_then(Json::as_str)
                .and_then(parse_ts)
            {
                Some(until) if now < until && !self.dry_run => Finish::Failed(timeout_error(step)),
                _ => Finish::Done(waiting.output.clone().unwrap_or(Json::Null)),
            },
        };
        let mut record = waiting;
        record.finished_at = Some(ts(now));
        match finish {
            Finish::Done(output) => {
                record.state = "succeeded".into();
                record.output = Some(output.clone());
                let next = RunUpdate::advance(run, Some((step.id.clone(), output)), at.steps);
                self.commit(run, &next, &record, true, observer)
            }
            Finish::Failed(e) => self.fail(run, at, record, e, observer),
        }
    }

    /// Records a failed attempt and decides: retry later, continue, or fail
    /// the run.
    fn fail(
        &self,
        run: &mut Run,
        at: &At,
        mut record: Attempt,
        error: StepError,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let step = at.step;
        let now = self.clock.now();
        let ends_waiting = record.state == "waiting";
        record.state = "failed".into();
        record.error = Some(error.message.clone());
        record.retryable = Some(error.retryable);
        record.finished_at = Some(ts(now));
        let next = if error.retryable && record.attempt < step.retry.attempts {
            let delay = step.retry.delay_before(record.attempt + 1);
            RunUpdate::wait(
                run,
                record.attempt,
                if self.dry_run { now } else { later(now, delay) },
                None,
            )
        } else if step.on_error == OnError::Continue {
            RunUpdate::advance(
                run,
                Some((step.id.clone(), json!({ "error": error.message }))),
                at.steps,
            )
        } else {
            RunUpdate::fail(
                run,
                record.attempt,
                format!("step `{}` failed: {}", step.id, error.message),
            )
        };
        self.commit(run, &next, &record, ends_waiting, observer)
    }

    /// Writes an attempt (new, or ending a waiting one) and the run's next
    /// state in one transaction.
    fn commit(
        &self,
        run: &mut Run,
        next: &RunUpdate,
        record: &Attempt,
        ends_waiting: bool,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let now = self.clock.now();
        let written = self.store.write(|conn| -> rusqlite::Result<bool> {
            // The guard first: a run another process moved is left alone.
            if !runs::update(conn, run, next, &self.owner, now, self.lease_until())? {
                return Ok(false);
            }
            if ends_waiting {
                runs::finish_attempt(conn, record)?;
            } else {
                runs::insert_attempt(conn, record)?;
            }
            Ok(true)
        })?;
        if !written {
            return Ok(Transition::Lost);
        }
        self.report(run, record, next, observer)
    }

    /// Brings `run` up to date with a committed update, and tells the
    /// observer about the attempt and about the run's end.
    fn report(
        &self,
        run: &mut Run,
        record: &Attempt,
        next: &RunUpdate,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        run.apply(next, &self.owner, self.lease_until());
        observer.attempt(run, record);
        if !runs::TERMINAL.contains(&next.state) {
            return Ok(Transition::Advanced);
        }
        observer.run_ended(run);
        Ok(Transition::Ended)
    }
}

/// The context a step's expressions see.
fn context(run: &Run, attempt: u32) -> Json {
    let mut ctx = run.outputs.clone();
    ctx.insert("trigger".into(), run.trigger.clone());
    ctx.insert(
        "run".into(),
        json!({
            "id": run.id,
            "automation": run.automation,
            "version": run.version,
            "subject": run.subject_id,
            "attempt": attempt,
            "parent": run.parent_run,
            "started_at": run.created_at,
        }),
    );
    Json::Object(ctx)
}

fn render_input(step: &StepDef, scope: &Scope) -> Result<Map<String, Json>, StepError> {
    let mut input = Map::new();
    for field in &step.fields {
        let value = field
            .template
            .render(scope)
            .map_err(|e| StepError::fatal(format!("field `{}`: {e}", field.name)))?;
        input.insert(field.name.clone(), value);
    }
    Ok(input)
}

fn deadline(step: &StepDef, started: DateTime<Utc>) -> DateTime<Utc> {
    step.timeout.map_or_else(never, |t| later(started, t))
}

/// `t + d`, or "until woken" when that is past what a timestamp holds (the
/// parser bounds durations, so only a stored time far ahead gets there).
fn later(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .map_or_else(never, |t| t.min(never()))
}

fn timeout_error(step: &StepDef) -> StepError {
    let limit = step
        .timeout
        .map(|t| humantime::format_duration(t).to_string())
        .unwrap_or_default();
    StepError::transient(format!("timed out after {limit}"))
}
