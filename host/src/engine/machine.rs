//! The run state machine: pure transitions, no I/O (design section 7).
//!
//! Given a run as stored and what happened to its current step, these
//! functions say what the run becomes ([`RunUpdate`]) and what the attempt
//! records. The engine does the reading, the effects and the writing; the
//! decisions are all here, tested below without a database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::automation::{OnError, StepDef};
use crate::error::Error;
use crate::steps::Outcome;
use crate::store::runs::{Attempt, AttemptState, Position, RunState, RunUpdate};
use crate::time::ts;

/// Whether waits and backoffs pass at once (a dry run) or take their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Waits {
    #[default]
    Real,
    Skip,
}

/// What a run needs next, from its row alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It has ended.
    Ended,
    /// It waits, and is not due (or waits until woken).
    Parked,
    /// Due: its waiting attempt, if it has one, ends now; without one, a
    /// retry's backoff has passed and a new attempt starts.
    Wake,
    /// Running with an attempt recorded: that attempt may have been left
    /// performing by a process that stopped, and is then performed again.
    Recover,
    /// A new attempt of the step at the cursor.
    Attempt,
}

pub fn next(run: &Position, now: DateTime<Utc>) -> Next {
    match run.state {
        s if s.is_terminal() => Next::Ended,
        RunState::Paused => Next::Parked,
        RunState::Waiting => match run.wake_at {
            Some(wake) if wake <= now => Next::Wake,
            _ => Next::Parked,
        },
        RunState::Running if run.attempt > 0 => Next::Recover,
        _ => Next::Attempt,
    }
}

/// On to the next step (recording `output`), or the run's success after
/// the last of its `steps`.
pub fn advance(run: &Position, output: Option<(String, Json)>, steps: usize) -> RunUpdate {
    let cursor = run.cursor + 1;
    RunUpdate {
        state: if cursor >= steps {
            RunState::Succeeded
        } else {
            RunState::Running
        },
        output,
        cursor,
        attempt: 0,
        wake_at: None,
        awaiting_run: None,
        error: None,
        result: None,
    }
}

/// Whether `next` moves the run straight on to a first attempt of step
/// `index`, with nothing to wait for: then that step may follow in the
/// same transaction.
pub fn moves_on_to(next: &RunUpdate, index: usize) -> bool {
    next.state == RunState::Running
        && next.cursor == index
        && next.attempt == 0
        && next.wake_at.is_none()
        && next.awaiting_run.is_none()
}

/// Attempt `attempt` of the same step waits until `wake_at` (none: until
/// woken), or until the run `awaiting` ends.
pub fn wait(
    run: &Position,
    attempt: u32,
    wake_at: Option<DateTime<Utc>>,
    awaiting: Option<i64>,
) -> RunUpdate {
    RunUpdate {
        state: RunState::Waiting,
        output: None,
        cursor: run.cursor,
        attempt,
        wake_at,
        awaiting_run: awaiting,
        error: None,
        result: None,
    }
}

/// Attempt `attempt` is under way: its effect is being performed.
pub fn performing(run: &Position, attempt: u32) -> RunUpdate {
    RunUpdate {
        state: RunState::Running,
        output: None,
        cursor: run.cursor,
        attempt,
        wake_at: None,
        awaiting_run: None,
        error: None,
        result: None,
    }
}

/// The run fails on the step at its cursor.
pub fn fail(run: &Position, attempt: u32, error: String) -> RunUpdate {
    RunUpdate {
        state: RunState::Failed,
        output: None,
        cursor: run.cursor,
        attempt,
        wake_at: None,
        awaiting_run: None,
        error: Some(error),
        result: None,
    }
}

/// A run whose steps have all succeeded ends with its result (its
/// automation's `output:`).
pub fn finish(run: &Position, result: Json) -> RunUpdate {
    RunUpdate {
        state: RunState::Succeeded,
        output: None,
        cursor: run.cursor,
        attempt: 0,
        wake_at: None,
        awaiting_run: None,
        error: None,
        result: Some(result),
    }
}

/// When an attempt that started at `started` runs out of time.
pub fn deadline(step: &StepDef, started: DateTime<Utc>) -> Option<DateTime<Utc>> {
    step.timeout.and_then(|t| later(started, t))
}

/// `t + d`, if a timestamp holds it.
pub fn later(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
}

/// The error of an attempt that ran past the step's `timeout`.
pub fn timed_out(step: &StepDef) -> Error {
    let limit = step
        .timeout
        .map(|t| humantime::format_duration(t).to_string())
        .unwrap_or_default();
    Error::transient(format!("timed out after {limit}"))
}

/// A new attempt record of the step at `run`'s cursor.
pub fn attempt(run: &Position, step: &StepDef, number: u32, started: DateTime<Utc>) -> Attempt {
    Attempt {
        run_id: run.id,
        step_index: run.cursor,
        step_id: step.id.clone(),
        kind: step.kind.clone(),
        attempt: number,
        state: AttemptState::Performing,
        idempotency_key: None,
        input: None,
        output: None,
        error: None,
        retryable: None,
        started_at: ts(started),
        finished_at: None,
        logs: None,
    }
}

/// An attempt that was skipped (its `if` was false): the run moves on.
pub fn skipped(run: &Position, mut record: Attempt, steps: usize) -> (Attempt, RunUpdate) {
    record.state = AttemptState::Skipped;
    record.finished_at = Some(record.started_at.clone());
    (record, advance(run, None, steps))
}

/// What a step's outcome makes of its attempt and the run.
pub fn outcome(
    run: &Position,
    step: &StepDef,
    steps: usize,
    mut record: Attempt,
    outcome: Outcome,
    now: DateTime<Utc>,
    waits: Waits,
) -> (Attempt, RunUpdate) {
    let started = crate::time::parse_ts(&record.started_at).unwrap_or(now);
    let deadline = deadline(step, started);
    match outcome {
        Outcome::Done(output) => {
            record.state = AttemptState::Succeeded;
            record.finished_at = Some(ts(now));
            record.output = Some(output.clone());
            (record, advance(run, Some((step.id.clone(), output)), steps))
        }
        Outcome::Sleep { until, output } => {
            record.state = AttemptState::Waiting;
            record.output = Some(output);
            let wake = match waits {
                Waits::Skip => now,
                Waits::Real => deadline.map_or(until, |d| until.min(d)),
            };
            let number = record.attempt;
            (record, wait(run, number, Some(wake), None))
        }
        Outcome::AwaitRun { run_id } => {
            record.state = AttemptState::Waiting;
            let number = record.attempt;
            (record, wait(run, number, deadline, Some(run_id)))
        }
    }
}

/// A failed attempt: retried later (if retryable and attempts are left),
/// continued past (`on_error: continue`), or the run fails.
pub fn failure(
    run: &Position,
    step: &StepDef,
    steps: usize,
    mut record: Attempt,
    error: &Error,
    now: DateTime<Utc>,
    waits: Waits,
) -> (Attempt, RunUpdate) {
    record.state = AttemptState::Failed;
    record.error = Some(error.message.clone());
    record.retryable = Some(error.is_retryable());
    record.finished_at = Some(ts(now));
    let number = record.attempt;
    let next = if error.is_retryable() && number < step.retry.attempts {
        let delay = step.retry.delay_before(number + 1);
        let wake = match waits {
            Waits::Skip => now,
            Waits::Real => later(now, delay).unwrap_or(now),
        };
        wait(run, number, Some(wake), None)
    } else if step.on_error == OnError::Continue {
        advance(
            run,
            Some((step.id.clone(), json!({ "error": error.message }))),
            steps,
        )
    } else {
        fail(
            run,
            number,
            format!("step `{}` failed: {}", step.id, error.message),
        )
    };
    (record, next)
}

/// How a waiting attempt whose time has come ends.
#[derive(Debug, PartialEq)]
pub enum Woken {
    /// Finished, with this output.
    Done(Json),
    Failed(Error),
    /// Its child is still running and it is not late: it waits again.
    StillWaiting,
    /// Its child is still running past the deadline: the child is
    /// cancelled and the attempt fails as timed out.
    CancelChild(i64),
}

/// A child run's state, as a waiting parent sees it.
pub struct Child<'a> {
    pub id: i64,
    pub automation: &'a str,
    pub state: RunState,
    pub error: Option<&'a str>,
    pub outputs: &'a serde_json::Map<String, Json>,
    /// Its result (its automation's `output:`), if it declares one.
    pub result: Option<&'a Json>,
}

/// What wakes a waiting attempt: `child` is the run it waits on (none: a
/// timer, whose end is in the attempt's output).
pub fn woken(
    step: &StepDef,
    waiting: &Attempt,
    child: Option<Child>,
    now: DateTime<Utc>,
    waits: Waits,
) -> Woken {
    let started = crate::time::parse_ts(&waiting.started_at).unwrap_or(now);
    let late = deadline(step, started).is_some_and(|d| now >= d);
    match child {
        Some(child) if child.state == RunState::Succeeded => Woken::Done(json!({
            "run_id": child.id,
            "state": child.state,
            "output": child.result.cloned().unwrap_or_else(|| Json::Object(child.outputs.clone())),
        })),
        Some(child) if child.state.is_terminal() => Woken::Failed(Error::new(
            format!(
                "child run {} ({}) {}: {}",
                child.id,
                child.automation,
                child.state,
                child.error.unwrap_or_default()
            ),
            child.state == RunState::Failed,
        )),
        Some(child) if late => Woken::CancelChild(child.id),
        Some(_) => Woken::StillWaiting,
        // A timer woken by its deadline before its time has timed out.
        None => match waiting
            .output
            .as_ref()
            .and_then(|o| o.get("until"))
            .and_then(Json::as_str)
            .and_then(crate::time::parse_ts)
        {
            Some(until) if now < until && waits == Waits::Real => Woken::Failed(timed_out(step)),
            _ => Woken::Done(waiting.output.clone().unwrap_or(Json::Null)),
        },
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
