//! The `tracker` connector against a live Tracker (tests/servers/tracker.py):
//! grant and revoke tasks fulfilled through it, a connector failure that
//! leaves the task open, and idempotency keys across retries.

mod support;

use keystep_tests::{Keystep, Tracker};
use serde_json::{Value as Json, json};
use support::*;

#[test]
fn revoke_and_grant_tasks_are_fulfilled_through_the_connector() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    k.write("automations/offboard.yaml", OFFBOARD);
    k.write(
        "automations/promote.yaml",
        r#"
name: promote
trigger: manual
steps:
  - id: grant
    grant_entitlements: { user: subject, entitlements: [tracker:admin, tracker:viewers] }
"#,
    );
    assert_eq!(tracker.members("admin"), ["ada"]);
    assert_eq!(tracker.members("developers"), ["ada", "grace"]);

    // Revoke: ada leaves both groups, in Tracker and in the directory.
    let (code, history) = run(&k, "offboard", "u-ada");
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let output = &history["run"]["outputs"]["revoke"];
    assert_eq!(
        output["revoked"],
        json!(["tracker:admin", "tracker:developers"])
    );
    let tasks: Vec<i64> = output["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    assert_eq!(
        output["connector"],
        json!([
            {"task": tasks[0], "connector": "tracker", "outcome": "fulfilled",
             "result": {"group": "admin", "login": "ada"}},
            {"task": tasks[1], "connector": "tracker", "outcome": "fulfilled",
             "result": {"group": "developers", "login": "ada"}},
        ])
    );
    assert_eq!(tracker.members("admin"), Vec::<String>::new());
    assert_eq!(tracker.members("developers"), ["grace"]);
    // One idempotency key per entitlement changed: run/step/attempt/entitlement.
    let key = |ent: &str| format!("{id}/revoke/1/tracker:{ent}");
    assert_eq!(
        requests(&tracker),
        [
            req("DELETE", "/api/groups/admin/members/ada", &key("admin")),
            req(
                "DELETE",
                "/api/groups/developers/members/ada",
                &key("developers")
            ),
        ]
    );
    assert_eq!(held(&k, "u-ada"), Vec::<String>::new());
    for t in &tasks {
        assert_eq!(
            task(&k, *t),
            (
                "completed".into(),
                vec!["created".into(), "fulfilled".into(), "completed".into()]
            )
        );
    }
    assert_eq!(
        history_detail(&k, tasks[0], "fulfilled"),
        json!({"connector": "tracker", "result": {"group": "admin", "login": "ada"}})
    );
    assert_eq!(
        k.count(
            "SELECT count(*) FROM events WHERE kind = 'grant_removed' AND subject_id = 'u-ada'"
        ),
        2
    );
    // Nothing is left for the app owner.
    let open = k.json(&["tasks", "list", "--assignee", "u-owner"]);
    assert_eq!(open.as_array().map(Vec::len), Some(0), "{open}");

    // Grant: grace joins admin and viewers.
    let (code, history) = run(&k, "promote", "u-grace");
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let output = &history["run"]["outputs"]["grant"];
    let fulfilled = output["connector"].as_array().unwrap();
    assert_eq!(fulfilled.len(), 2, "{output}");
    for (f, group) in fulfilled.iter().zip(["admin", "viewers"]) {
        assert_eq!(f["outcome"], "fulfilled");
        assert_eq!(f["result"], json!({"group": group, "login": "grace"}));
        let t = f["task"].as_i64().unwrap();
        assert_eq!(task(&k, t).0, "completed");
    }
    assert_eq!(tracker.members("admin"), ["grace"]);
    assert_eq!(tracker.members("viewers"), ["linus", "grace"]);
    let key = |ent: &str| format!("{id}/grant/1/tracker:{ent}");
    assert_eq!(
        requests(&tracker)[2..],
        [
            req("PUT", "/api/groups/admin/members/grace", &key("admin")),
            req("PUT", "/api/groups/viewers/members/grace", &key("viewers")),
        ]
    );
    assert_eq!(
        held(&k, "u-grace"),
        ["tracker:admin", "tracker:developers", "tracker:viewers"]
    );
}

#[test]
fn a_connector_failure_leaves_the_task_open_with_the_error_and_the_step_succeeds() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    k.write("automations/offboard.yaml", OFFBOARD);
    tracker.fail_next(1);
    let (code, history) = run(&k, "offboard", "u-grace");
    assert_eq!(code, 0, "the step succeeds: {history}");
    assert_eq!(history["run"]["state"], "succeeded");
    let step = &history["steps"][0];
    assert_eq!(step["state"], "succeeded");
    let report = &step["output"]["connector"][0];
    let t = report["task"].as_i64().unwrap();
    assert_eq!(report["outcome"], "failed", "{report}");
    let error = report["error"].as_str().unwrap();
    assert_eq!(
        error,
        "plugin `tracker`: unavailable: tracker: DELETE /api/groups/developers/members/grace \
         answered 503: try later"
    );
    assert!(report.get("result").is_none());

    // The task stays open for the owner, with the error in its history;
    // nothing changed in Tracker or in the directory.
    assert_eq!(
        task(&k, t),
        (
            "open".into(),
            vec!["created".into(), "connector_failed".into()]
        )
    );
    assert_eq!(
        history_detail(&k, t, "connector_failed"),
        json!({"connector": "tracker", "error": error})
    );
    assert_eq!(tracker.members("developers"), ["ada", "grace"]);
    assert_eq!(held(&k, "u-grace"), ["tracker:developers"]);
    let open = k.json(&["tasks", "list", "--subject", "u-grace"]);
    assert_eq!(open[0]["id"], t, "{open}");
    assert_eq!(open[0]["state"], "open");

    // Run again once Tracker answers: the open task is reused, and this time
    // the connector carries it out.
    let (code, history) = run(&k, "offboard", "u-grace");
    assert_eq!(code, 0, "{history}");
    let report = &history["run"]["outputs"]["revoke"]["connector"][0];
    assert_eq!(report["task"], t);
    assert_eq!(report["outcome"], "fulfilled", "{report}");
    assert_eq!(
        task(&k, t),
        (
            "completed".into(),
            vec![
                "created".into(),
                "connector_failed".into(),
                "fulfilled".into(),
                "completed".into()
            ]
        )
    );
    assert_eq!(tracker.members("developers"), ["ada"]);
    assert_eq!(held(&k, "u-grace"), Vec::<String>::new());
    let keys: Vec<Json> = requests(&tracker).into_iter().map(|r| r.2).collect();
    assert_eq!(
        keys,
        [
            json!("1/revoke/1/tracker:developers"),
            json!("2/revoke/1/tracker:developers")
        ]
    );
}

#[test]
fn a_retryable_connector_error_is_retried_with_the_next_attempts_idempotency_key() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    k.write(
        "automations/lock.yaml",
        r#"
name: lock
trigger: manual
steps:
  - id: lock
    perform_connector_action:
      connector: tracker
      action: lock-account
      args: { login: "{{ ctx.trigger.user.username }}" }
    retry: { attempts: 3, backoff: 1s }
"#,
    );
    tracker.fail_next(1);
    let (code, history) = run(&k, "lock", "u-linus");
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{history}");
    assert_eq!(steps[0]["state"], "failed");
    assert_eq!(steps[0]["retryable"], true);
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap()
            .contains("answered 503: try later"),
        "{}",
        steps[0]
    );
    assert_eq!(steps[1]["state"], "succeeded");
    assert_eq!(
        requests(&tracker),
        [
            req("POST", "/api/users/linus/lock", &format!("{id}/lock/1")),
            req("POST", "/api/users/linus/lock", &format!("{id}/lock/2")),
        ]
    );
    assert_eq!(tracker.state()["users"][2]["active"], false);
}

#[test]
fn keystep_invoke_runs_a_connector_action_on_its_own_after_checking_it() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    let out = k.ok(&[
        "invoke",
        "tracker",
        "lock-account",
        "--args",
        r#"{"login": "linus"}"#,
    ]);
    let result: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(result["login"], "linus", "{result}");
    assert_eq!(tracker.state()["users"][2]["active"], false);
    let sent = requests(&tracker);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0.as_str(), sent[0].1.as_str()),
        ("POST", "/api/users/linus/lock")
    );
    assert!(
        sent[0].2.as_str().unwrap().starts_with("cli/invoke/"),
        "{sent:?}"
    );

    // A mistyped action or arguments that do not fit: refused, nothing sent.
    let ran = k.run(&["invoke", "tracker", "lock-acount"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("(did you mean `lock-account`?)"),
        "{}",
        ran.stderr
    );
    let ran = k.run(&[
        "invoke",
        "tracker",
        "lock-account",
        "--args",
        r#"{"reason": "x"}"#,
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("do not fit its schema"),
        "{}",
        ran.stderr
    );
    assert_eq!(requests(&tracker).len(), 1, "nothing more reached Tracker");

    // The app's answer is the command's: a failure exits 1.
    tracker.fail_next(1);
    let ran = k.run(&[
        "--json",
        "invoke",
        "tracker",
        "unlock-account",
        "--args",
        r#"{"login": "linus"}"#,
    ]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.json()["retryable"], true, "{}", ran.stdout);
}

#[test]
fn log_level_chooses_which_plugin_log_lines_show() {
    let k = Keystep::with_examples();
    k.with_plugins(&["risk-rust"]);
    k.ok(&["directory", "import", "directory.yaml"]);
    let input = r#"{"user_id": "u-ken"}"#;
    let ran = k.run(&["call", "risk-rust", "--input", input]);
    assert!(
        ran.stderr.contains("[plugin risk-rust] info: scored u-ken"),
        "{}",
        ran.stderr
    );
    let ran = k.run(&["call", "risk-rust", "--input", input, "--log-level", "warn"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(!ran.stderr.contains("[plugin risk-rust]"), "{}", ran.stderr);
    let ran = k.run(&["call", "risk-rust", "--input", input, "--log-level", "loud"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("`loud` is not a log level"),
        "{}",
        ran.stderr
    );

    // A step's plugin log lines stay with its attempt, at the level set.
    let (code, history) = run(&k, "access-risk", "u-ken");
    assert_eq!(code, 0, "{history}");
    let logs = &history["steps"][0]["logs"];
    assert_eq!(
        logs,
        &json!([{"plugin": "risk-rust", "level": "info", "message": "scored u-ken: 34"}]),
        "{history}"
    );
    let id = history["run"]["id"].to_string();
    let shown = k.ok(&["runs", "show", &id]);
    assert!(
        shown.contains("log       [plugin risk-rust] info: scored u-ken: 34"),
        "{shown}"
    );
    k.env("KEYSTEP_PLUGIN_LOG", "warn");
    let (_, quiet) = run(&k, "access-risk", "u-ken");
    assert!(quiet["steps"][0]["logs"].is_null(), "{quiet}");
}
