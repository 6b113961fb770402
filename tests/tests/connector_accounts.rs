//! The `tracker` connector's accounts and actions against a live Tracker:
//! accounts created and linked, custom actions, schema checks before any
//! request, and a token that never shows.

mod support;

use keystep_tests::{Keystep, TRACKER_TOKEN, Tracker};
use serde_json::{Value as Json, json};
use support::*;

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

    // The same login created again with no `user:`: the app already has
    // it, and it stays linked to Ada (unlinked, a revoke would miss it).
    k.write(
        "automations/unowned.yaml",
        r#"
name: unowned
trigger: manual
steps:
  - id: account
    create_account:
      connector: tracker
      method: custom
      fields: { login: ada, email: ada@example.com }
"#,
    );
    let (code, history) = run(&k, "unowned", "u-ada");
    assert_eq!(code, 0, "{history}");
    let outputs = &history["run"]["outputs"]["account"];
    assert_eq!(outputs["already_existed"], true, "{history}");
    assert_eq!(outputs["user_id"], json!(null), "{history}");
    assert_eq!(
        k.count("SELECT count(*) FROM accounts WHERE id = 'ada' AND app_id = 'tracker' AND user_id = 'u-ada'"),
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

    // Literal arguments that do not fit the action's schema, or an action
    // the connector does not have: refused before the run starts, with
    // where, and sent nowhere.
    for (args, expected) in [
        (
            "action: lock-account, args: { reason: 7 }",
            "5:81: perform_connector_action: arguments of `tracker` action `lock-account` do not fit its schema: \
             $: `login` is required; $.reason: expected string, found integer",
        ),
        (
            "action: lock-account, args: { login: ada, force: true }",
            "$: unknown field `force`",
        ),
        ("action: lock-account, args: { login: \"\" }", "$.login"),
        (
            "action: lock-acount, args: { login: ada }",
            "connector `tracker` has no action `lock-acount` (did you mean `lock-account`?) \
             (it has: lock-account, unlock-account)",
        ),
    ] {
        k.write(
            "automations/bad.yaml",
            &format!(
                "name: bad\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
                 {{ connector: tracker, {args} }}\n    retry: {{ attempts: 3, backoff: 1s }}\n"
            ),
        );
        let input = json!({"user_id": "u-ada"}).to_string();
        let ran = k.run(&["run", "bad", "--input", &input]);
        assert_eq!(ran.code, 2, "{args}: {ran:?}");
        assert!(
            ran.stderr.contains("nothing was started"),
            "{args}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains(expected), "{args}: {}", ran.stderr);
    }
    // Arguments known only at run time: the step fails for good, not
    // retried, sent nowhere.
    k.write(
        "automations/bad.yaml",
        "name: bad\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
         { connector: tracker, action: lock-account, args: { login: \"{{ ctx.trigger.user.username }}\", \
         reason: \"{{ 7 }}\", force: true } }\n    retry: { attempts: 3, backoff: 1s }\n",
    );
    let (code, history) = run(&k, "bad", "u-ada");
    assert_eq!(code, 1, "{history}");
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "not retried: {history}");
    let error = steps[0]["error"].as_str().unwrap();
    assert!(error.contains("$: unknown field `force`"), "{error:?}");
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

/// Tracker is made careless (it echoes the Authorization header in every
/// answer and error), so the token reaches the connector's outputs and
/// errors: what keystep prints and stores shows `[secret]` in its place.
#[test]
fn the_token_never_shows_in_output_or_in_the_store() {
    let tracker = Tracker::start();
    tracker.echo_auth();
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
    let mut expect = |ran: keystep_tests::Ran, code: i32| {
        assert_eq!(ran.code, code, "{ran:?}");
        seen.push(ran);
    };
    let json_run = k.run(&["--json", "run", "everything", "--input", input]);
    let history = json_run.json();
    let outputs = &history["run"]["outputs"];
    assert_eq!(outputs["account"]["login"], "alan");
    assert_eq!(outputs["grant"]["connector"][0]["outcome"], "fulfilled");
    assert_eq!(
        outputs["lock"]["result"],
        json!({"login": "alan", "locked": true, "authorization": "Bearer [secret]"})
    );
    assert_eq!(outputs["revoke"]["connector"][0]["outcome"], "fulfilled");
    assert_eq!(
        history["steps"][4]["error"],
        "plugin `tracker`: not-found: tracker: POST /api/users/ghost/unlock answered 404: \
         no user ghost (you sent Bearer [secret])"
    );
    expect(json_run, 1);
    tracker.fail_next(1);
    let human = k.run(&["run", "everything", "--input", r#"{"user_id": "u-linus"}"#]);
    assert!(
        human.stdout.contains("(you sent Bearer [secret])"),
        "{human:?}"
    );
    expect(human, 1);
    expect(
        k.run(&["--json", "run", "everything", "--dry-run", "--input", input]),
        0,
    );
    for id in ["1", "2"] {
        expect(k.run(&["--json", "runs", "show", id]), 0);
        expect(k.run(&["runs", "show", id]), 0);
    }
    expect(k.run(&["--json", "runs", "list"]), 0);
    expect(k.run(&["--json", "tasks", "list", "--state", "all"]), 0);
    expect(
        k.run(&["--json", "directory", "show", "u-alan", "--events"]),
        0,
    );
    expect(k.run(&["--json", "plugins", "inspect", "tracker"]), 0);
    expect(k.run(&["plugins", "inspect", "tracker"]), 0);
    expect(k.run(&["plugins", "list"]), 0);

    // A wrong token: Tracker refuses, echoing it, and the error names
    // neither token.
    let wrong = Keystep::with_tracker(&tracker);
    wrong.env("TRACKER_TOKEN", "wr0ng-t0ken-value");
    wrong.write(
        "automations/lock.yaml",
        "name: lock\ntrigger: manual\nsteps:\n  - id: lock\n    perform_connector_action: \
         { connector: tracker, action: lock-account, args: { login: ada } }\n",
    );
    let refused = wrong.run(&["--json", "run", "lock", "--input", "{}"]);
    assert_eq!(
        refused.json()["steps"][0]["error"],
        "plugin `tracker`: denied: tracker: POST /api/users/ada/lock answered 401: bad token \
         (you sent Bearer [secret])"
    );
    assert!(!refused.stdout.contains("wr0ng") && !refused.stderr.contains("wr0ng"));
    expect(refused, 1);

    for ran in &seen {
        assert!(
            !ran.stdout.contains(TRACKER_TOKEN) && !ran.stderr.contains(TRACKER_TOKEN),
            "the token leaked: {ran:?}"
        );
    }
    // Nor anywhere in the store (the database and its write-ahead log).
    for k in [&k, &wrong] {
        for entry in std::fs::read_dir(k.path().join(".keystep")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                for token in [TRACKER_TOKEN, "wr0ng-t0ken-value"] {
                    assert!(
                        !keystep_tests::contains_bytes(&bytes, token.as_bytes()),
                        "{token} is in {}",
                        path.display()
                    );
                }
            }
        }
    }
}
