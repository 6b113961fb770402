//! Circuit breakers (`max_runs`) through the real binary: beyond the limit
//! new runs are created paused and change nothing until an operator
//! resumes them (`runs resume-paused`) or drops them (`runs
//! cancel-paused`, recorded with who and why); a trip is logged once and
//! counted.

use std::time::Duration;

use keystep_tests::Keystep;

const LONG: Duration = Duration::from_secs(120);

/// Disables each new user; at most `count` runs an hour.
fn disable_joiners(count: u32) -> String {
    format!(
        r#"
name: disable-joiners
trigger: user_created
max_runs: {{ count: {count}, per: 1h }}
steps:
  - id: hold
    modify_user_status: {{ user: subject, status: disabled }}
"#
    )
}

fn new_users(n: usize) -> String {
    let mut text = String::from("users:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - {{ id: u-new{i}, display_name: New {i}, email: new{i}@example.com, manager: u-ken }}\n"
        ));
    }
    text
}

/// Waits until `sql` counts `n`.
fn until(k: &Keystep, sql: &str, n: i64, log: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + LONG;
    while k.count(sql) != n {
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} = {}, not {n}\n{}",
            k.count(sql),
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const DISABLED: &str = "SELECT count(*) FROM users WHERE id LIKE 'u-new%' AND status = 'disabled'";

#[test]
fn a_thousand_joiners_past_a_breaker_of_a_hundred_leave_nine_hundred_paused_until_resumed() {
    let k = Keystep::with_examples();
    k.write("automations/disable-joiners.yaml", &disable_joiners(100));
    let serving = k.serve();
    let log = || serving.log().join("\n");
    k.write("joiners.yaml", &new_users(1000));
    k.ok(&["directory", "import", "joiners.yaml"]);
    until(&k, "SELECT count(*) FROM runs", 1000, log);
    until(
        &k,
        "SELECT count(*) FROM runs WHERE state = 'succeeded'",
        100,
        log,
    );
    std::thread::sleep(Duration::from_millis(1500));
    // The paused runs changed nothing, and nothing moved them.
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'paused'"),
        900
    );
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'succeeded'"),
        100
    );
    assert_eq!(k.count(DISABLED), 100);
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts WHERE run_id IN (SELECT id FROM runs WHERE state = 'paused')"),
        0
    );
    // The first paused run tripped it; the others found it tripped.
    assert_eq!(serving.count("circuit breaker tripped"), 1, "{}", log());
    let trip = serving.wait_for("circuit breaker tripped", LONG);
    assert!(trip.contains("100 runs created in the last 1h"), "{trip}");
    assert_eq!(
        k.count("SELECT count(*) FROM breaker_log WHERE action = 'tripped' AND automation = 'disable-joiners'"),
        1
    );
    let listed = k.json(&["runs", "list", "--state", "paused", "--limit", "1000"]);
    assert_eq!(listed.as_array().unwrap().len(), 900);

    let resumed = k.json(&["runs", "resume-paused", "disable-joiners"]);
    assert_eq!(resumed["runs"].as_array().unwrap().len(), 900);
    until(
        &k,
        "SELECT count(*) FROM runs WHERE state = 'succeeded'",
        1000,
        log,
    );
    assert_eq!(k.count(DISABLED), 1000);
    // One change each: none was made twice.
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'user_updated' AND actor LIKE 'run %'"),
        1000
    );
    assert_eq!(
        k.count("SELECT count(*) FROM breaker_log WHERE action = 'resumed' AND runs = 900 AND actor = 'cli'"),
        1
    );
}

#[test]
fn paused_runs_cancelled_with_a_reason_change_nothing_and_the_cancel_is_recorded() {
    let k = Keystep::with_examples();
    k.write(
        "automations/offboard.yaml",
        r#"
name: offboard
trigger: manual
max_runs: { count: 2, per: 1d }
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
"#,
    );
    let mut states = Vec::new();
    for user in ["u-ada", "u-linus", "u-barbara", "u-whit"] {
        let ran = k.start("offboard", user);
        // A finished run answers with its history, a paused one with its state.
        let state = ran["run"]["state"].as_str().or(ran["state"].as_str());
        states.push(state.unwrap().to_string());
    }
    assert_eq!(states, ["succeeded", "succeeded", "paused", "paused"]);
    let ran = k.run(&["run", "offboard", "--input", r#"{"user_id": "u-john"}"#]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains("is paused: offboard's circuit breaker (max_runs) is tripped; `keystep runs resume-paused offboard` lets it start"),
        "{}",
        ran.stdout
    );
    // Moving every due run leaves the paused ones where they are.
    k.ok(&["runs", "resume"]);
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'paused'"),
        3
    );

    let cancelled = k.json(&[
        "runs",
        "cancel-paused",
        "offboard",
        "--reason",
        "a bad import, not leavers",
    ]);
    assert_eq!(cancelled["runs"].as_array().unwrap().len(), 3);
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'cancelled' AND error = 'cancelled while paused: a bad import, not leavers'"),
        3
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id IN ('u-barbara', 'u-whit', 'u-john') AND status = 'disabled'"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM breaker_log WHERE action = 'cancelled' AND runs = 3 AND actor = 'cli' AND reason = 'a bad import, not leavers'"),
        1
    );
    let again = k.ok(&["runs", "cancel-paused", "offboard", "--reason", "again"]);
    assert!(again.contains("offboard has no paused runs"), "{again}");
}

#[test]
fn a_bad_breaker_is_refused_with_where_and_what_was_expected() {
    let k = Keystep::with_examples();
    let path = k.write(
        "automations/bad.yaml",
        "name: bad\ntrigger: manual\nmax_runs: { count: 10, per: 2h }\nsteps:\n  - id: w\n    wait: { duration: 1s }\n",
    );
    let ran = k.run(&["validate", path.to_str().unwrap()]);
    assert_ne!(ran.code, 0);
    assert!(
        ran.stderr
            .contains("bad.yaml:3:29: `max_runs.per` must be 1h, 1d, 7d or 30d, found `2h`")
            || ran
                .stdout
                .contains("bad.yaml:3:29: `max_runs.per` must be 1h, 1d, 7d or 30d, found `2h`"),
        "{ran:?}"
    );
}

#[test]
fn paused_runs_are_released_and_cancelled_through_the_api_by_an_operate_token() {
    const OPERATE: &str = "op-91d3c7a2e05b4f68cc";
    const READ: &str = "rd-4a7e0c93b2d1f856dd";
    let k = Keystep::with_examples();
    k.with_tokens(OPERATE, READ);
    k.write(
        "automations/offboard.yaml",
        "name: offboard\ntrigger: manual\nmax_runs: { count: 1, per: 1h }\nsteps:\n  - id: disable\n    modify_user_status: { user: subject, status: disabled }\n",
    );
    let s = k.serve_api();
    let start = |user: &str| {
        let answer = s.call(
            "POST",
            "/v1/automations/offboard/runs?wait=5s",
            OPERATE,
            &format!(r#"{{"user_id": "{user}"}}"#),
        );
        answer.body["state"]
            .as_str()
            .or(answer.body["run"]["state"].as_str())
            .unwrap()
            .to_string()
    };
    assert_eq!(start("u-ada"), "succeeded");
    assert_eq!(start("u-linus"), "paused");
    assert_eq!(start("u-barbara"), "paused");
    let refused = s.call("POST", "/v1/automations/offboard/resume-paused", READ, "");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'paused'"),
        2
    );

    let resumed = s.call(
        "POST",
        "/v1/automations/offboard/resume-paused",
        OPERATE,
        "",
    );
    assert_eq!(resumed.status, 200, "{resumed:?}");
    assert_eq!(resumed.body["runs"], serde_json::json!([2, 3]));
    until(
        &k,
        "SELECT count(*) FROM runs WHERE state = 'succeeded'",
        3,
        || s.log().join("\n"),
    );
    assert_eq!(start("u-whit"), "paused");
    let cancelled = s.call(
        "POST",
        "/v1/automations/offboard/cancel-paused",
        OPERATE,
        r#"{"reason": "not a leaver"}"#,
    );
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["runs"], serde_json::json!([4]));
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id = 'u-whit' AND status = 'disabled'"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM breaker_log WHERE actor = 'api token ops' AND action IN ('resumed', 'cancelled')"),
        2
    );
}
