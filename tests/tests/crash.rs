//! Durability under real `kill -9`: runs that pass directory steps and a
//! durable wait are driven by two racing processes that are killed at many
//! points until done. Each kill must be our SIGKILL, and the test hook's
//! marks show where it landed: inside step transactions and between them.
//! No run may be lost, no directory change may happen twice, and history
//! shows each step once, succeeded. (Effect steps join with the concurrent
//! engine.)

use std::time::Duration;

use keystep_tests::Keystep;
use keystep_tests::crash::{Sweep, assert_no_change_twice, crash_until_done};

const USERS: &[&str] = &[
    "u-ada",
    "u-linus",
    "u-barbara",
    "u-whit",
    "u-dennis",
    "u-john",
    "u-ken",
    "u-frances",
];

const AUTOMATION: &str = r#"
name: crashy
trigger: manual
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all, exclude: [okta:user] }
  - id: pause
    wait: { duration: 300ms }
  - id: profiles
    remove_access_profiles: { user: subject, profiles: all }
  - id: delegates
    modify_delegate: { user: subject, replacement: u-grace }
  - id: review
    create_campaign: { template: departed-user-review, user: subject }
  - id: grant
    grant_entitlements: { user: subject, entitlements: [jira:admin] }
  - id: inactive
    modify_user_status: { user: subject, status: inactive }
"#;
const STEPS: i64 = 8;

const SIGKILL: i32 = 9;

/// Where a `kill -9` landed, from the last mark the test hook wrote on the
/// killed process's stderr (`in ACTOR` when a step's transaction opened,
/// `out ACTOR` when it was over; the actor is `run ID/STEP/ATTEMPT`).
#[derive(Debug, PartialEq)]
enum Landing {
    /// Before the process opened any step's transaction.
    BeforeAnyStep,
    /// Inside the transaction of this step (its id).
    InStep(String),
    /// After a step's transaction, before the next one (waiting for the
    /// write lock, choosing runs, resolving inputs).
    BetweenSteps,
}

fn landing(stderr: &str) -> Landing {
    let last = keystep_tests::crash::hook_marks(stderr).next_back();
    match last.and_then(|m| m.split_once(' ')) {
        None => Landing::BeforeAnyStep,
        Some(("in", actor)) => {
            let step = actor.split('/').nth(1).expect("run ID/STEP/ATTEMPT");
            Landing::InStep(step.to_string())
        }
        Some(("out", _)) => Landing::BetweenSteps,
        Some(other) => panic!("unknown test-hook mark {other:?}"),
    }
}

/// Kills `child` with SIGKILL unless it has ended; returns where the kill
/// landed, or `None` if the process ended by itself (which must be a
/// success). Any other end, a signal other than SIGKILL among them, fails.
fn kill_9(mut child: std::process::Child) -> Option<Landing> {
    use std::os::unix::process::ExitStatusExt;
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.signal() {
        Some(SIGKILL) => Some(landing(&stderr)),
        Some(other) => panic!("resume died of signal {other}, not our SIGKILL:\n{stderr}"),
        None => {
            assert!(
                out.status.success(),
                "resume failed: {:?}\n{stderr}",
                out.status
            );
            None
        }
    }
}

#[test]
fn kill_9_at_many_points_loses_no_run_and_repeats_no_change() {
    let k = Keystep::with_examples();
    k.write("automations/crashy.yaml", AUTOMATION);
    let held: Vec<i64> = USERS
        .iter()
        .map(|u| k.count(&format!("SELECT count(*) FROM grants WHERE user_id = '{u}' AND entitlement_id != 'okta:user'")))
        .collect();
    let events_before = k.count("SELECT count(*) FROM events");
    for user in USERS {
        k.ok(&[
            "run",
            "crashy",
            "--detach",
            "--input",
            &format!(r#"{{"user_id": "{user}"}}"#),
        ]);
    }

    // The hook holds each step's transaction open for 40 ms and waits 40 ms
    // after it, so kills land inside transactions as well as between them.
    // Kill delays sweep 5..=200 ms.
    let sweep = Sweep {
        from_ms: 5,
        to_ms: 200,
        step_ms: 15,
        kills: 80,
        deadline: Duration::from_secs(240),
    };
    let landings: Vec<Landing> = crash_until_done(&k, &sweep, kill_9);

    // Where the kills landed: inside step transactions (of several kinds of
    // step) and between them.
    let inside: Vec<&str> = landings
        .iter()
        .filter_map(|l| match l {
            Landing::InStep(step) => Some(step.as_str()),
            _ => None,
        })
        .collect();
    let between = landings
        .iter()
        .filter(|l| **l == Landing::BetweenSteps)
        .count();
    let before = landings
        .iter()
        .filter(|l| **l == Landing::BeforeAnyStep)
        .count();
    let mut per_step: Vec<(&str, usize)> = Vec::new();
    for step in &inside {
        match per_step.iter_mut().find(|(s, _)| s == step) {
            Some((_, n)) => *n += 1,
            None => per_step.push((step, 1)),
        }
    }
    eprintln!(
        "{} kill -9s: {} inside a step's transaction {per_step:?}, {between} between steps, \
         {before} before any step",
        landings.len(),
        inside.len()
    );
    assert!(
        inside.len() >= 10 && between >= 5 && per_step.len() >= 3,
        "too few kills landed where they matter: {landings:?}"
    );

    // Every run finished, each step exactly once, succeeded, no failed attempt.
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'succeeded'"),
        USERS.len() as i64
    );
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts"),
        USERS.len() as i64 * STEPS
    );
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts WHERE state != 'succeeded'"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM (SELECT run_id, step_index FROM step_attempts GROUP BY 1, 2 HAVING count(*) > 1)"),
        0
    );

    // No directory change happened twice.
    assert_no_change_twice(&k, USERS, &held);
    assert_eq!(
        k.count("SELECT count(*) FROM campaigns"),
        USERS.len() as i64
    );
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'campaign_created'"),
        USERS.len() as i64
    );
    let unenrolled = k.count("SELECT count(*) FROM events WHERE kind = 'user_unenrolled'");
    assert_eq!(
        unenrolled, 4,
        "ada, linus, barbara and whit are the enrolled ones"
    );
    // Ada's run re-points ken's and barbara's delegations, John's frances's.
    assert_eq!(
        k.count(
            "SELECT count(*) FROM events WHERE kind = 'delegate_changed' AND actor LIKE 'run %'"
        ),
        3
    );
    assert!(k.count("SELECT count(*) FROM events") > events_before);
}
