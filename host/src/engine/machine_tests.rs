//! Every state and transition of the run state machine, with no database.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, json};

use super::*;
use crate::automation::{Automation, parse};

fn at(s: &str) -> DateTime<Utc> {
    crate::time::parse_ts(s).unwrap()
}

const NOW: &str = "2026-12-01T09:00:00Z";

fn automation(steps: &str) -> Automation {
    parse(
        Path::new("t.yaml"),
        &format!("name: t\ntrigger: manual\nsteps:\n{steps}"),
    )
    .unwrap()
}

fn run(state: RunState) -> Position {
    Position {
        id: 7,
        state,
        cursor: 0,
        attempt: 0,
        wake_at: None,
        lease_owner: None,
        parent_run: None,
    }
}

#[test]
fn what_a_run_needs_next_follows_its_state() {
    let now = at(NOW);
    assert_eq!(next(&run(RunState::Pending), now), Next::Attempt);
    assert_eq!(next(&run(RunState::Running), now), Next::Attempt);
    let mut recovering = run(RunState::Running);
    recovering.attempt = 2;
    assert_eq!(next(&recovering, now), Next::Recover);
    for ended in [RunState::Succeeded, RunState::Failed, RunState::Cancelled] {
        assert_eq!(next(&run(ended), now), Next::Ended);
    }
    let mut waiting = run(RunState::Waiting);
    assert_eq!(next(&waiting, now), Next::Parked, "until woken");
    waiting.wake_at = Some(now + TimeDelta::seconds(1));
    assert_eq!(next(&waiting, now), Next::Parked, "not yet due");
    waiting.wake_at = Some(now);
    assert_eq!(next(&waiting, now), Next::Wake);
}

#[test]
fn a_step_that_succeeds_moves_the_cursor_and_the_last_one_ends_the_run() {
    let a = automation(
        "  - id: a\n    wait: { duration: 1s }\n  - id: b\n    wait: { duration: 1s }\n",
    );
    let now = at(NOW);
    let first = run(RunState::Running);
    let record = attempt(&first, &a.steps[0], 1, now);
    let (record, next) = outcome(
        &first,
        &a.steps[0],
        2,
        record,
        Outcome::Done(json!({"x": 1})),
        now,
        Waits::Real,
    );
    assert_eq!(record.state, AttemptState::Succeeded);
    assert_eq!(
        record.finished_at.as_deref(),
        Some("2026-12-01T09:00:00.000Z")
    );
    assert_eq!(next.state, RunState::Running);
    assert_eq!((next.cursor, next.attempt), (1, 0));
    assert_eq!(next.output, Some(("a".into(), json!({"x": 1}))));
    let mut last = first.clone();
    last.cursor = 1;
    assert_eq!(advance(&last, None, 2).state, RunState::Succeeded);
}

#[test]
fn a_skipped_step_records_no_output_and_moves_on() {
    let a = automation("  - id: a\n    if: false\n    wait: { duration: 1s }\n");
    let r = run(RunState::Pending);
    let (record, next) = skipped(&r, attempt(&r, &a.steps[0], 1, at(NOW)), 1);
    assert_eq!(record.state, AttemptState::Skipped);
    assert_eq!(next.state, RunState::Succeeded);
    assert_eq!(next.output, None);
}

#[test]
fn a_timer_waits_until_its_end_or_its_timeout_and_a_dry_run_does_not_wait() {
    let a = automation("  - id: a\n    timeout: 1h\n    wait: { duration: 7d }\n");
    let (now, r) = (at(NOW), run(RunState::Running));
    let sleep = || Outcome::Sleep {
        until: now + TimeDelta::days(7),
        output: json!({"until": "x"}),
    };
    let record = attempt(&r, &a.steps[0], 1, now);
    let (rec, next) = outcome(
        &r,
        &a.steps[0],
        1,
        record.clone(),
        sleep(),
        now,
        Waits::Real,
    );
    assert_eq!(rec.state, AttemptState::Waiting);
    assert_eq!(next.state, RunState::Waiting);
    assert_eq!(
        next.wake_at,
        Some(now + TimeDelta::hours(1)),
        "the timeout comes first"
    );
    let (_, dry) = outcome(&r, &a.steps[0], 1, record, sleep(), now, Waits::Skip);
    assert_eq!(dry.wake_at, Some(now));
}

#[test]
fn waiting_on_a_child_without_a_timeout_waits_until_woken() {
    let a = automation("  - id: a\n    wait: { duration: 1s }\n");
    let (now, r) = (at(NOW), run(RunState::Running));
    let record = attempt(&r, &a.steps[0], 1, now);
    let (_, next) = outcome(
        &r,
        &a.steps[0],
        1,
        record,
        Outcome::AwaitRun { run_id: 9 },
        now,
        Waits::Real,
    );
    assert_eq!(next.state, RunState::Waiting);
    assert_eq!(next.wake_at, None, "until woken, not a far-off date");
    assert_eq!(next.awaiting_run, Some(9));
}

#[test]
fn a_retryable_failure_waits_out_the_backoff_while_attempts_remain() {
    let a = automation(
        "  - id: a\n    retry: { attempts: 3, backoff: 10s }\n    wait: { duration: 1s }\n",
    );
    let (now, r) = (at(NOW), run(RunState::Running));
    let busy = Error::transient("busy");
    let (rec, next) = failure(
        &r,
        &a.steps[0],
        1,
        attempt(&r, &a.steps[0], 1, now),
        &busy,
        now,
        Waits::Real,
    );
    assert_eq!(rec.state, AttemptState::Failed);
    assert_eq!(rec.retryable, Some(true));
    assert_eq!(next.state, RunState::Waiting);
    assert_eq!(next.wake_at, Some(now + TimeDelta::seconds(10)));
    let (_, second) = failure(
        &r,
        &a.steps[0],
        1,
        attempt(&r, &a.steps[0], 2, now),
        &busy,
        now,
        Waits::Real,
    );
    assert_eq!(
        second.wake_at,
        Some(now + TimeDelta::seconds(20)),
        "exponential"
    );
    let (_, last) = failure(
        &r,
        &a.steps[0],
        1,
        attempt(&r, &a.steps[0], 3, now),
        &busy,
        now,
        Waits::Real,
    );
    assert_eq!(last.state, RunState::Failed, "no attempt left");
    assert_eq!(last.error.as_deref(), Some("step `a` failed: busy"));
}

#[test]
fn a_final_failure_fails_the_run_at_once_unless_the_step_continues() {
    let a = automation(
        "  - id: a\n    retry: { attempts: 3 }\n    wait: { duration: 1s }\n  - id: b\n    on_error: continue\n    wait: { duration: 1s }\n",
    );
    let (now, r) = (at(NOW), run(RunState::Running));
    let bad = Error::fatal("no such user");
    let (_, next) = failure(
        &r,
        &a.steps[0],
        2,
        attempt(&r, &a.steps[0], 1, now),
        &bad,
        now,
        Waits::Real,
    );
    assert_eq!(next.state, RunState::Failed);
    let mut at_b = r.clone();
    at_b.cursor = 1;
    let (_, next) = failure(
        &at_b,
        &a.steps[1],
        2,
        attempt(&at_b, &a.steps[1], 1, now),
        &bad,
        now,
        Waits::Real,
    );
    assert_eq!(next.state, RunState::Succeeded);
    assert_eq!(
        next.output,
        Some(("b".into(), json!({"error": "no such user"})))
    );
}

#[test]
fn an_attempt_being_performed_keeps_the_run_running() {
    let r = run(RunState::Pending);
    let next = performing(&r, 1);
    assert_eq!(
        (next.state, next.cursor, next.attempt),
        (RunState::Running, 0, 1)
    );
}

#[test]
fn a_waiting_attempt_ends_as_its_child_or_timer_says() {
    let a = automation("  - id: a\n    timeout: 1h\n    wait: { duration: 1s }\n");
    let step = &a.steps[0];
    let now = at(NOW);
    let r = run(RunState::Waiting);
    let mut waiting = attempt(&r, step, 1, now - TimeDelta::minutes(5));
    waiting.state = AttemptState::Waiting;
    let outputs = Map::new();
    let child = |state| Child {
        id: 9,
        automation: "c",
        state,
        error: Some("it broke"),
        outputs: &outputs,
        result: None,
    };
    assert!(matches!(
        woken(
            step,
            &waiting,
            Some(child(RunState::Succeeded)),
            now,
            Waits::Real
        ),
        Woken::Done(_)
    ));
    match woken(
        step,
        &waiting,
        Some(child(RunState::Failed)),
        now,
        Waits::Real,
    ) {
        Woken::Failed(e) => {
            assert_eq!(e.message, "child run 9 (c) failed: it broke");
            assert!(e.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    match woken(
        step,
        &waiting,
        Some(child(RunState::Cancelled)),
        now,
        Waits::Real,
    ) {
        Woken::Failed(e) => assert!(!e.is_retryable()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        woken(
            step,
            &waiting,
            Some(child(RunState::Running)),
            now,
            Waits::Real
        ),
        Woken::StillWaiting
    );
    let late = now + TimeDelta::hours(2);
    assert_eq!(
        woken(
            step,
            &waiting,
            Some(child(RunState::Running)),
            late,
            Waits::Real
        ),
        Woken::CancelChild(9)
    );

    waiting.output = Some(json!({"until": "2026-12-01T10:00:00.000Z"}));
    assert_eq!(
        woken(step, &waiting, None, now, Waits::Real),
        Woken::Failed(timed_out(step)),
        "woken early by its deadline"
    );
    assert!(matches!(
        woken(
            step,
            &waiting,
            None,
            at("2026-12-01T10:00:00Z"),
            Waits::Real
        ),
        Woken::Done(_)
    ));
    assert!(matches!(
        woken(step, &waiting, None, now, Waits::Skip),
        Woken::Done(_)
    ));
}

#[test]
fn run_states_round_trip_through_their_names() {
    for state in RunState::ALL {
        assert_eq!(RunState::parse(state.as_str()), Some(state));
    }
    assert_eq!(RunState::parse("sleeping"), None);
    assert!(RunState::Cancelled.is_terminal() && !RunState::Waiting.is_terminal());
}

#[test]
fn only_a_plain_advance_lets_the_next_step_follow_in_the_same_transaction() {
    let now = at(NOW);
    let a = automation(
        "  - id: a\n    wait: { duration: 1h }\n  - id: b\n    wait: { duration: 1h }\n",
    );
    let step = &a.steps[0];
    let moved = advance(&run(RunState::Running), Some(("a".into(), json!({}))), 2);
    assert!(moves_on_to(&moved, 1));
    assert!(!moves_on_to(&moved, 2), "only to the step it moved to");
    let last = advance(
        &Position {
            cursor: 1,
            ..run(RunState::Running)
        },
        None,
        2,
    );
    assert_eq!(last.state, RunState::Succeeded);
    assert!(!moves_on_to(&last, 2), "an ended run moves on to nothing");
    let waits = wait(&run(RunState::Running), 1, Some(now), None);
    assert!(!moves_on_to(&waits, 0));
    let record = attempt(&run(RunState::Running), step, 1, now);
    let error = Error::transient("down");
    let (_, retry) = failure(
        &run(RunState::Running),
        step,
        2,
        record,
        &error,
        now,
        Waits::Real,
    );
    assert!(
        !moves_on_to(&retry, 1),
        "a retry waits for its backoff: {retry:?}"
    );
}

#[test]
fn a_position_after_an_update_is_where_the_update_left_the_run() {
    let seen = Position {
        parent_run: Some(3),
        ..run(RunState::Pending)
    };
    let moved = advance(&seen, None, 2);
    let after = seen.after(&moved, "me");
    assert_eq!(
        (after.state, after.cursor, after.attempt),
        (RunState::Running, 1, 0)
    );
    assert_eq!(after.lease_owner.as_deref(), Some("me"));
    assert_eq!(after.parent_run, Some(3));
    let ended = after.after(&advance(&after, None, 2), "me");
    assert_eq!(
        (ended.state, ended.lease_owner),
        (RunState::Succeeded, None)
    );
}
