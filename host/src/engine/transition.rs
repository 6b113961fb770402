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
use crate::store::ts;

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

/// Far enough ahead to mean "until woken".
fn never() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
        .unwrap()
        .to_utc()
}

impl Engine<'_> {
    pub(super) fn transition(
        &self,
        id: i64,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let conn = self.store.conn();
        let Some(run) = runs::load(conn, id)? else {
            return Ok(Transition::Lost);
        };
        if run.is_terminal() {
            return Ok(Transition::Ended);
        }
        let automation = self.automation(&run.version)?;
        let now = self.clock.now();
        let Some(step) = automation.steps.get(run.cursor) else {
            return self.end_run(&run, observer);
        };
        if run.state == "waiting" {
            if run.wake_at.is_some_and(|w| w > now) {
                return Ok(Transition::Parked);
            }
            if let Some(waiting) = runs::waiting_attempt(conn, &run)? {
                return self.resume_waiting(&run, step, waiting, observer);
            }
            // A retry's backoff has passed: fall through to a new attempt.
        }
        self.attempt(&run, step, observer)
    }

    /// Starts attempt `run.attempt + 1` of the step at the cursor.
    fn attempt(
        &self,
        run: &Run,
        step: &StepDef,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let number = run.attempt + 1;
        let started = self.clock.now();
        let scope = Scope::new(&context(run, number));
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
        if let Some(condition) = &step.condition {
            match condition.eval_bool(&scope) {
                Ok(true) => {}
                Ok(false) => {
                    record.state = "skipped".into();
                    record.finished_at = Some(ts(started));
                    let mut next = RunUpdate::from(run);
                    next.cursor += 1;
                    next.attempt = 0;
                    return self.commit(run, &next, &record, false, observer);
                }
                Err(e) => {
                    return self.fail(
                        run,
                        step,
                        record,
                        StepError::fatal(format!("`if`: {e}")),
                        observer,
                    );
                }
            }
        }
        let input = match render_input(step, &scope) {
            Ok(input) => input,
            Err(e) => return self.fail(run, step, record, e, observer),
        };
        record.input = Some(Json::Object(input.clone()));
        let kind = steps::lookup(&step.kind).expect("parsed steps have known kinds");
        let info = RunInfo {
            id: run.id,
            automation: run.automation.clone(),
            subject: run.subject_id.clone(),
            depth: run.lineage.len().saturating_sub(1) as u32,
            lineage: run.lineage.clone(),
        };
        let actor = format!("run {}/{}/{number}", run.id, step.id);
        let delay = test_step_delay();
        let written = self
            .store
            .write(|conn| -> Result<Option<Attempt>, Failure> {
                if !still_ours(conn, run, &self.owner)? {
                    return Ok(None);
                }
                let dir = Directory::new(conn, actor.clone());
                let starter = ChildStarter {
                    conn,
                    catalog: &self.catalog,
                    parent: &info,
                    max_depth: self.max_depth,
                    now: started,
                };
                let mut cx = StepCx {
                    dir: &dir,
                    runs: &starter,
                    run: &info,
                    step_id: &step.id,
                    attempt: number,
                    now: started,
                };
                let outcome = kind.run(&input, &mut cx).map_err(Failure::Step)?;
                if let Some(delay) = delay {
                    std::thread::sleep(delay);
                }
                let finished = self.clock.now();
                let mut record = record.clone();
                let mut next = RunUpdate::from(run);
                next.attempt = number;
                match outcome {
                    Outcome::Done(output) => {
                        record.state = "succeeded".into();
                        record.output = Some(output.clone());
                        record.finished_at = Some(ts(finished));
                        next.outputs.insert(step.id.clone(), output);
                        next.cursor += 1;
                        next.attempt = 0;
                    }
                    Outcome::Sleep { until, output } => {
                        record.state = "waiting".into();
                        record.output = Some(output);
                        next.state = "waiting";
                        next.wake_at = Some(self.dry_or(until.min(deadline(step, started))));
                    }
                    Outcome::AwaitRun { run_id } => {
                        record.state = "waiting".into();
                        next.state = "waiting";
                        next.awaiting_run = Some(run_id);
                        next.wake_at = Some(deadline(step, started));
                    }
                }
                runs::insert_attempt(conn, &record)?;
                if !runs::update(conn, run, &next, &self.owner, finished)? {
                    return Err(Failure::Lost);
                }
                Ok(Some(record))
            });
        match written {
            Ok(Some(record)) => {
                observer.attempt(run, &record);
                Ok(Transition::Advanced)
            }
            Ok(None) | Err(Failure::Lost) => Ok(Transition::Lost),
            Err(Failure::Step(e)) => self.fail(run, step, record, e, observer),
            Err(Failure::Db(e)) => self.fail(
                run,
                step,
                record,
                crate::directory::DirError::from(e).into(),
                observer,
            ),
        }
    }

    /// In a dry run, timers fire at once.
    fn dry_or(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.dry_run { self.clock.now() } else { at }
    }

    /// A waiting attempt whose time has come: a timer that fired, a child
    /// run that ended, or a deadline that passed.
    fn resume_waiting(
        &self,
        run: &Run,
        step: &StepDef,
        waiting: Attempt,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let now = self.clock.now();
        let started = crate::store::parse_ts(&waiting.started_at).unwrap_or(now);
        let timed_out = now >= deadline(step, started);
        let result = match run.awaiting_run {
            Some(child_id) => match runs::load(self.store.conn(), child_id)? {
                Some(child) if child.state == "succeeded" => Finish::Done(json!({
                    "run_id": child.id,
                    "state": child.state,
                    "output": child.outputs,
                })),
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
                    let mut next = RunUpdate::from(run);
                    next.state = "waiting";
                    next.awaiting_run = run.awaiting_run;
                    next.wake_at = Some(deadline(step, started));
                    let owner = &self.owner;
                    self.store
                        .write(|conn| runs::update(conn, run, &next, owner, now))?;
                    return Ok(Transition::Parked);
                }
            },
            // A timer: woken by its deadline before its time, it timed out.
            None => match waiting_until(&waiting) {
                Some(until) if now < until && !self.dry_run => Finish::Failed(timeout_error(step)),
                _ => Finish::Done(waiting.output.clone().unwrap_or(Json::Null)),
            },
        };
        let mut record = waiting;
        record.finished_at = Some(ts(now));
        match result {
            Finish::Done(output) => {
                record.state = "succeeded".into();
                record.output = Some(output.clone());
                let mut next = RunUpdate::from(run);
                next.outputs.insert(step.id.clone(), output);
                next.cursor += 1;
                next.attempt = 0;
                self.commit(run, &next, &record, true, observer)
            }
            Finish::Failed(e) => self.fail(run, step, record, e, observer),
        }
    }

    /// Records a failed attempt and decides: retry later, continue, or fail
    /// the run.
    fn fail(
        &self,
        run: &Run,
        step: &StepDef,
        mut record: Attempt,
        error: StepError,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let now = self.clock.now();
        let replaces_waiting = record.state == "waiting";
        record.state = "failed".into();
        record.error = Some(error.message.clone());
        record.retryable = Some(error.retryable);
        record.finished_at = Some(ts(now));
        let mut next = RunUpdate::from(run);
        next.attempt = record.attempt;
        if error.retryable && record.attempt < step.retry.attempts {
            let delay = step.retry.delay_before(record.attempt + 1);
            next.state = "waiting";
            next.wake_at =
                Some(self.dry_or(now + chrono::Duration::from_std(delay).unwrap_or_default()));
        } else if step.on_error == OnError::Continue {
            next.outputs
                .insert(step.id.clone(), json!({ "error": error.message }));
            next.cursor += 1;
            next.attempt = 0;
        } else {
            next.state = "failed";
            next.error = Some(format!("step `{}` failed: {}", step.id, error.message));
        }
        self.commit(run, &next, &record, replaces_waiting, observer)
    }

    /// Writes an attempt (new, or ending a waiting one) and the run's next
    /// state in one transaction.
    fn commit(
        &self,
        run: &Run,
        next: &RunUpdate,
        record: &Attempt,
        ends_waiting: bool,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<Transition> {
        let now = self.clock.now();
        let written = self.store.write(|conn| -> rusqlite::Result<bool> {
            if ends_waiting {
                runs::finish_attempt(conn, record)?;
            } else {
                runs::insert_attempt(conn, record)?;
            }
            runs::update(conn, run, next, &self.owner, now)
        })?;
        if !written {
            return Ok(Transition::Lost);
        }
        observer.attempt(run, record);
        if next.state == "failed" {
            let ended = runs::load(self.store.conn(), run.id)?.expect("run exists");
            observer.run_ended(&ended);
            return Ok(Transition::Ended);
        }
        Ok(Transition::Advanced)
    }

    /// Ends a run that has no more steps.
    fn end_run(&self, run: &Run, observer: &mut dyn Observer) -> anyhow::Result<Transition> {
        let mut next = RunUpdate::from(run);
        next.state = "succeeded";
        let now = self.clock.now();
        if !self
            .store
            .write(|conn| runs::update(conn, run, &next, &self.owner, now))?
        {
            return Ok(Transition::Lost);
        }
        let ended = runs::load(self.store.conn(), run.id)?.expect("run exists");
        observer.run_ended(&ended);
        Ok(Transition::Ended)
    }
}

/// Why a step transaction was rolled back.
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

/// Inside the transaction: the run is still at the same step and attempt,
/// and leased to us.
fn still_ours(conn: &rusqlite::Connection, run: &Run, owner: &str) -> rusqlite::Result<bool> {
    Ok(runs::load(conn, run.id)?.is_some_and(|now| {
        now.cursor == run.cursor
            && now.attempt == run.attempt
            && !now.is_terminal()
            && now.lease_owner.as_deref() == Some(owner)
    }))
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
    step.timeout
        .and_then(|t| chrono::Duration::from_std(t).ok())
        .map_or_else(never, |t| started + t)
}

fn waiting_until(attempt: &Attempt) -> Option<DateTime<Utc>> {
    attempt
        .output
        .as_ref()?
        .get("until")?
        .as_str()
        .and_then(crate::store::parse_ts)
}

fn timeout_error(step: &StepDef) -> StepError {
    let limit = step
        .timeout
        .map(|t| humantime::format_duration(t).to_string())
        .unwrap_or_default();
    StepError::transient(format!("timed out after {limit}"))
}

/// Test hook for the crash tests: hold each step's transaction open this
/// long, so a `kill -9` can land inside one.
fn test_step_delay() -> Option<std::time::Duration> {
    std::env::var("KEYSTEP_TEST_STEP_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(std::time::Duration::from_millis)
}
