//! Durability under real `kill -9`: runs that pass directory steps and a
//! durable wait are driven by two racing processes that are killed at many
//! points, during step transactions and between them, until done. No run may be lost, no directory
//! change may happen twice, and history shows each step once, succeeded.

use std::process::Stdio;
use std::time::{Duration, Instant};

use keystep_tests::Keystep;

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

fn kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
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

    // Each step holds its transaction open for 40 ms, so kills land inside
    // transactions as well as between them. Kill delays sweep 5..=200 ms.
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut delay_ms = 5;
    while k
        .count("SELECT count(*) FROM runs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')")
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "runs did not finish; {kills} kills"
        );
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
        for mut child in children {
            if child.try_wait().unwrap().is_none() {
                kill9(child.id());
                kills += 1;
            }
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success() || out.status.code().is_none(),
                "resume failed: {:?}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        delay_ms = if delay_ms >= 200 { 5 } else { delay_ms + 15 };
        if kills >= 80 {
            // Enough kills: let the rest finish undisturbed.
            std::thread::sleep(Duration::from_millis(350));
            k.ok(&["runs", "resume"]);
        }
    }
    assert!(
        kills >= 20,
        "only {kills} kills landed; the test did not exercise crashes"
    );
    eprintln!("{kills} kill -9s");

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
    for (user, held) in USERS.iter().zip(held) {
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
            held,
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
