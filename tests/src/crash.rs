//! The crash tests' loop: two `keystep runs resume` processes race with the
//! test hook on, and are killed with SIGKILL at delays that sweep a range,
//! until every run has ended (after `kills` kills the rest finish
//! undisturbed).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::Keystep;

/// How the kills are timed.
pub struct Sweep {
    /// Delays from the processes' start to the kill: first, last, step (ms).
    pub from_ms: u64,
    pub to_ms: u64,
    pub step_ms: u64,
    /// Kills before the runs are let finish.
    pub kills: usize,
    /// How long all of it may take.
    pub deadline: Duration,
}

/// Runs the loop; `killed` kills one process and says where the kill landed
/// (`None`: it had ended by itself). Returns every landing.
pub fn crash_until_done<T>(
    k: &Keystep,
    sweep: &Sweep,
    killed: impl Fn(Child) -> Option<T>,
) -> Vec<T> {
    let mut landings: Vec<T> = Vec::new();
    let deadline = Instant::now() + sweep.deadline;
    let mut delay_ms = sweep.from_ms;
    while k
        .count("SELECT count(*) FROM runs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')")
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "runs did not finish; {} kills",
            landings.len()
        );
        if landings.len() >= sweep.kills {
            // Enough kills: let the rest finish undisturbed.
            std::thread::sleep(Duration::from_millis(350));
            k.ok(&["runs", "resume"]);
            continue;
        }
        // Two processes resume at once, racing for the same runs.
        let children: Vec<_> = (0..2)
            .map(|_| {
                k.command(&["runs", "resume"])
                    .env("KEYSTEP_TEST_STEP_DELAY_MS", "40")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(delay_ms));
        landings.extend(children.into_iter().filter_map(&killed));
        delay_ms = if delay_ms >= sweep.to_ms {
            sweep.from_ms
        } else {
            delay_ms + sweep.step_ms
        };
    }
    landings
}

/// After a crash test: each of `users` (with `held` entitlements other than
/// the one kept) was disabled and set inactive once by a run, got one revoke
/// task per held entitlement and one grant task, and every task a run made
/// has its one `task_created` event: no directory change happened twice.
pub fn assert_no_change_twice(k: &Keystep, users: &[&str], held: &[i64]) {
    for (user, held) in users.iter().zip(held) {
        let q = |sql: &str| k.count(&sql.replace("$U", user));
        assert_eq!(
            q(
                "SELECT count(*) FROM events WHERE kind = 'user_updated' AND subject_id = '$U' AND actor LIKE 'run %'"
            ),
            2,
            "{user}"
        );
        assert_eq!(
            q("SELECT count(*) FROM tasks WHERE kind = 'revoke' AND subject_id = '$U'"),
            *held,
            "{user}"
        );
        assert_eq!(
            q("SELECT count(*) FROM tasks WHERE kind = 'grant' AND subject_id = '$U'"),
            1,
            "{user}"
        );
        assert_eq!(
            q(
                "SELECT count(*) FROM events WHERE kind = 'task_created' AND subject_id = '$U' AND actor LIKE 'run %'"
            ),
            q("SELECT count(*) FROM tasks WHERE subject_id = '$U'"),
            "{user}"
        );
        assert_eq!(
            q("SELECT count(*) FROM users WHERE id = '$U' AND status = 'inactive'"),
            1,
            "{user}"
        );
    }
}

/// The test hook's marks on a killed process's stderr (`in ACTOR`, `out
/// ACTOR`, `performing ACTOR`), oldest first. A kill can land while a mark
/// is half written, so only whole lines count.
pub fn hook_marks(stderr: &str) -> impl DoubleEndedIterator<Item = &str> {
    let whole = stderr.rfind('\n').map_or("", |end| &stderr[..end]);
    whole
        .lines()
        .filter_map(|l| l.strip_prefix("keystep-test-hook: "))
}
