//! The `tracker` connector against a live Tracker (tests/servers/tracker.py):
//! grant and revoke tasks fulfilled through it, a connector failure that
//! leaves the task open, accounts created and linked, custom actions, schema
//! checks before any request, idempotency keys, and a token that never
//! shows.

use keystep_tests::{Keystep, TRACKER_TOKEN, Tracker};
use serde_json::{Value as Json, json};

/// Runs `automation` about `user` in the foreground with `--json`; returns
/// the exit code and the run's history.
fn run(k: &Keystep, automation: &str, user: &str) -> (i32, Json) {
    let input = json!({ "user_id": user }).to_string();
    let ran = k.run(&["--json", "run", automation, "--input", &input]);
    assert!(ran.code == 0 || ran.code == 1, "{ran:?}");
    (ran.code, ran.json())
}

/// The entitlements `user` holds in the directory.
fn held(k: &Keystep, user: &str) -> Vec<String> {
    let db = k.db();
    let mut stmt = db
        .prepare("SELECT entitlement_id FROM grants WHERE user_id = ?1 ORDER BY entitlement_id")
        .unwrap();
    stmt.query_map([user], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// (state, [history actions]) of task `id`.
fn task(k: &Keystep, id: i64) -> (String, Vec<String>) {
    let db = k.db();
    let state = db
        .query_row("SELECT state FROM tasks WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let mut stmt = db
        .prepare("SELECT action FROM task_history WHERE task_id = ?1 ORDER BY rowid")
        .unwrap();
    let actions = stmt
        .query_map([id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (state, actions)
}

/// The `detail` of task `id`'s history entry `action`, as JSON.
fn history_detail(k: &Keystep, id: i64, action: &str) -> Json {
    let detail: String = k
        .db()
        .query_row(
            "SELECT detail FROM task_history WHERE task_id = ?1 AND action = ?2",
            rusqlite::params![id, action],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str(&detail).unwrap()
}

/// (method, path, idempotency key) of each request Tracker saw.
fn requests(tracker: &Tracker) -> Vec<(String, String, Json)> {
    tracker
        .requests()
        .into_iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["idempotency_key"].clone(),
            )
        })
        .collect()
}

fn req(method: &str, path: &str, key: &str) -> (String, String, Json) {
    (method.to_string(), path.to_string(), json!(key))
}

const OFFBOARD: &str = r#"
name: offboard
trigger: manual
steps:
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all }
"#;

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
fn create_account_from_user_links_the_account_and_bad_fields_send_nothing() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    k.write(
        "automations/account.yaml",
        r#"
name: account
trigger: manual
steps:
  - id: account
    create_account: { connector: tracker, method: from_user, user: subject, credential: sso }
"#,
    );
    let (code, history) = run(&k, "account", "u-alan");
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    assert_eq!(
        history["run"]["outputs"]["account"],
        json!({"connector": "tracker", "app": "tracker", "account_id": "alan",
               "login": "alan", "user_id": "u-alan", "already_existed": false})
    );
    let users = tracker.state()["users"].clone();
    assert!(
        users.as_array().unwrap().contains(&json!(
            {"login": "alan", "email": "alan@example.com", "name": "Alan Turing", "active": true}
        )),
        "{users}"
    );
    assert_eq!(
        requests(&tracker),
        [req("POST", "/api/users", &format!("{id}/account/1"))]
    );
    let account: (String, String, String, String, String) = k
        .db()
        .query_row(
            "SELECT id, app_id, user_id, username, email FROM accounts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        account,
        (
            "alan".into(),
            "tracker".into(),
            "u-alan".into(),
            "alan".into(),
            "alan@example.com".into()
        )
    );
    assert_eq!(
        k.count(
            "SELECT count(*) FROM events WHERE kind = 'account_created' AND subject_id = 'u-alan'"
        ),
        1
    );

    // ada already has a Tracker login: the account is found and linked.
    let (code, history) = run(&k, "account", "u-ada");
    assert_eq!(code, 0, "{history}");
    assert_eq!(
        history["run"]["outputs"]["account"]["already_existed"],
        true
    );
    assert_eq!(
        k.count("SELECT count(*) FROM accounts WHERE user_id = 'u-ada' AND app_id = 'tracker'"),
        1
    );

    // Custom fields that do not fit the account schema fail the step
    // before any request is sent.
    k.write(
        "automations/custom.yaml",
        r#"
name: custom
trigger: manual
steps:
  - id: account
    create_account:
      connector: tracker
      method: custom
      user: subject
      fields: { login: "Linus T", nickname: penguin }
  - id: after
    modify_user_status: { user: subject, status: disabled }
"#,
    );
    let seen = tracker.requests().len();
    let accounts = k.count("SELECT count(*) FROM accounts");
    let (code, history) = run(&k, "custom", "u-linus");
    assert_eq!(code, 1, "{history}");
    let error = history["steps"][0]["error"].as_str().unwrap();
    for part in [
        "account fields do not fit `tracker`'s account schema",
        "$: `email` is required",
        "$.login: `Linus T` does not match /^[a-z][a-z0-9.-]*$/",
        "$: unknown field `nickname`",
    ] {
        assert!(error.contains(part), "{error:?} should contain {part:?}");
    }
    assert_eq!(history["steps"][0]["retryable"], false);
    assert_eq!(history["steps"].as_array().unwrap().len(), 1);
    assert_eq!(tracker.requests().len(), seen, "nothing was sent");
    assert_eq!(k.count("SELECT count(*) FROM accounts"), accounts);

    // Fields that fit are sent as they are.
    k.write(
        "automations/custom.yaml",
        r#"
name: custom
trigger: manual
steps:
  - id: account
    create_account:
      connector: tracker
      method: custom
      user: subject
      fields: { login: "torvalds", email: "linus@linux.example" }
"#,
    );
    let (code, history) = run(&k, "custom", "u-linus");
    assert_eq!(code, 0, "{history}");
    assert_eq!(history["run"]["outputs"]["account"]["login"], "torvalds");
    assert_eq!(
        k.count("SELECT count(*) FROM accounts WHERE id = 'torvalds' AND user_id = 'u-linus'"),
        1
    );
    let logins: Vec<Json> = tracker.state()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].clone())
        .collect();
    assert_eq!(logins, ["ada", "grace", "linus", "alan", "torvalds"]);
}

#[test]
fn perform_connector_action_checks_arguments_before_any_request() {
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
      args: { login: "{{ ctx.trigger.user.username }}", reason: "left the company" }
"#,
    );
    let (code, history) = run(&k, "lock", "u-grace");
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    assert_eq!(
        history["run"]["outputs"]["lock"],
        json!({"connector": "tracker", "action": "lock-account",
               "result": {"login": "grace", "locked": true}})
    );
    let grace = tracker.state()["users"][1].clone();
    assert_eq!(
        (grace["login"].clone(), grace["active"].clone()),
        (json!("grace"), json!(false))
    );
    assert_eq!(
        requests(&tracker),
        [req(
            "POST",
            "/api/users/grace/lock",
            &format!("{id}/lock/1")
        )]
    );

    // Arguments that do not fit the action's schema: a fatal error, sent
    // nowhere.
    for (args, expected) in [
        (
            "{ reason: 7 }",
            "arguments of `tracker` action `lock-account` do not fit its schema: \
             $: `login` is required; $.reason: expected string, found integer",
        ),
        ("{ login: ada, force: true }", "$: unknown field `force`"),
        ("{ login: \"\" }", "$.login"),
    ] {
        k.write(
            "automations/bad.yaml",
            &format!(
                "name: bad\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
                 {{ connector: tracker, action: lock-account, args: {args} }}\n    \
                 retry: {{ attempts: 3, backoff: 1s }}\n"
            ),
        );
        let (code, history) = run(&k, "bad", "u-ada");
        assert_eq!(code, 1, "{args}: {history}");
        let steps = history["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "not retried: {history}");
        let error = steps[0]["error"].as_str().unwrap();
        assert!(error.contains(expected), "{args}: {error:?}");
    }
    // An action the connector does not have: the error lists those it has.
    k.write(
        "automations/bad.yaml",
        "name: bad\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
         { connector: tracker, action: lock-acount, args: { login: ada } }\n",
    );
    let (code, history) = run(&k, "bad", "u-ada");
    assert_eq!(code, 1);
    let error = history["steps"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("connector `tracker` has no action `lock-acount`")
            && error.contains("(it has: lock-account, unlock-account)"),
        "{error:?}"
    );
    assert_eq!(tracker.requests().len(), 1, "none of these was sent");
    assert_eq!(tracker.state()["users"][0]["active"], true, "ada untouched");

    // Tracker's own refusal comes back as the connector's error.
    k.write(
        "automations/bad.yaml",
        "name: bad\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
         { connector: tracker, action: unlock-account, args: { login: nobody } }\n",
    );
    let (code, history) = run(&k, "bad", "u-ada");
    assert_eq!(code, 1);
    assert_eq!(
        history["steps"][0]["error"],
        "plugin `tracker`: not-found: tracker: POST /api/users/nobody/unlock answered 404: no user nobody"
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
fn the_token_never_shows_in_output_or_in_the_store() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    k.write(
        "automations/everything.yaml",
        r#"
name: everything
trigger: manual
steps:
  - id: account
    create_account: { connector: tracker, method: from_user, user: subject }
  - id: grant
    grant_entitlements: { user: subject, entitlements: [tracker:developers] }
  - id: lock
    perform_connector_action: { connector: tracker, action: lock-account, args: { login: alan } }
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all }
  - id: missing
    perform_connector_action: { connector: tracker, action: unlock-account, args: { login: ghost } }
"#,
    );
    let input = r#"{"user_id": "u-alan"}"#;
    let mut seen = Vec::new();
    let json_run = k.run(&["--json", "run", "everything", "--input", input]);
    assert_eq!(json_run.code, 1, "the last step fails: {json_run:?}");
    let history = json_run.json();
    let outputs = &history["run"]["outputs"];
    assert_eq!(outputs["account"]["login"], "alan");
    assert_eq!(outputs["grant"]["connector"][0]["outcome"], "fulfilled");
    assert_eq!(outputs["lock"]["result"]["locked"], true);
    assert_eq!(outputs["revoke"]["connector"][0]["outcome"], "fulfilled");
    seen.push(json_run);
    tracker.fail_next(1);
    seen.push(k.run(&["run", "everything", "--input", r#"{"user_id": "u-linus"}"#]));
    seen.push(k.run(&["--json", "run", "everything", "--dry-run", "--input", input]));
    for id in ["1", "2"] {
        seen.push(k.run(&["--json", "runs", "show", id]));
        seen.push(k.run(&["runs", "show", id]));
    }
    seen.push(k.run(&["--json", "runs", "list"]));
    seen.push(k.run(&["--json", "tasks", "list", "--state", "all"]));
    seen.push(k.run(&["--json", "directory", "show", "u-alan", "--events"]));
    seen.push(k.run(&["--json", "plugins", "inspect", "tracker"]));
    seen.push(k.run(&["plugins", "inspect", "tracker"]));
    seen.push(k.run(&["plugins", "list"]));

    // A wrong token: Tracker refuses, and the error names neither token.
    let wrong = Keystep::with_tracker(&tracker);
    wrong.env("TRACKER_TOKEN", "wr0ng-t0ken-value");
    wrong.write(
        "automations/lock.yaml",
        "name: lock\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
         { connector: tracker, action: lock-account, args: { login: ada } }\n",
    );
    let refused = wrong.run(&["--json", "run", "lock", "--input", "{}"]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.json()["steps"][0]["error"],
        "plugin `tracker`: denied: tracker: POST /api/users/ada/lock answered 401: bad token"
    );
    assert!(!refused.stdout.contains("wr0ng") && !refused.stderr.contains("wr0ng"));
    seen.push(refused);

    for ran in &seen {
        assert!(
            !ran.stdout.contains(TRACKER_TOKEN) && !ran.stderr.contains(TRACKER_TOKEN),
            "the token leaked: {ran:?}"
        );
    }
    // Nor anywhere in the store (the database and its write-ahead log).
    for entry in std::fs::read_dir(k.path().join(".keystep")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(TRACKER_TOKEN.len())
                    .any(|w| w == TRACKER_TOKEN.as_bytes()),
                "the token is in {}",
                path.display()
            );
        }
    }
}
