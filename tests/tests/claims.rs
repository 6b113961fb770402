//! What the README says about runs and the CLI, each checked once through
//! the real binary: `wait: until`, the `ctx.run` fields, `tasks cancel`,
//! `runs cancel --reason`, `runs list --limit`, and the `access-risk`
//! example.

use keystep_tests::Keystep;
use serde_json::{Value as Json, json};

#[test]
fn wait_until_holds_the_run_until_that_time_and_no_longer() {
    let k = Keystep::with_examples();
    k.write(
        "automations/until.yaml",
        "name: until\ntrigger: manual\nsteps:\n  - id: hold\n    \
         wait: { until: \"{{ ctx.trigger.at }}\" }\n  - id: disable\n    \
         modify_user_status: { user: subject, status: disabled }\n",
    );
    let input = r#"{"user_id": "u-john", "at": "2034-06-01T12:00:00Z"}"#;
    let out = k.json(&["run", "until", "--follow", "0s", "--input", input]);
    assert_eq!(out["state"], "waiting", "{out}");
    let id = out["run_id"].as_i64().unwrap();
    let wake: String = k
        .db()
        .query_row("SELECT wake_at FROM runs WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(wake, "2034-06-01T12:00:00.000Z");

    // A second before: still waiting, nothing changed.
    k.ok(&["runs", "resume", "--now", "2034-06-01T11:59:59Z"]);
    assert_eq!(k.show(id)["run"]["state"], "waiting");
    assert_eq!(
        k.json(&["directory", "show", "u-john"])["user"]["status"],
        "active"
    );
    // At the time: the wait ends with its `until`, and the run goes on.
    k.ok(&["runs", "resume", "--now", "2034-06-01T12:00:00Z"]);
    let history = k.show(id);
    assert_eq!(history["run"]["state"], "succeeded", "{history}");
    assert_eq!(
        history["run"]["outputs"]["hold"]["until"],
        "2034-06-01T12:00:00.000Z"
    );
    assert_eq!(
        k.json(&["directory", "show", "u-john"])["user"]["status"],
        "disabled"
    );
}

/// Passes its whole `ctx.run` to a child (a field that is one expression
/// keeps its type), then the child passes its own to a grandchild.
const RUN_FIELDS: &str = r#"
name: outer
trigger: manual
steps:
  - id: look
    run_automation: { automation: inner, context: { seen: "{{ ctx.run }}" }, wait: true }
"#;
const INNER: &str = r#"
name: inner
trigger: manual
steps:
  - id: look
    run_automation: { automation: sink, context: { seen: "{{ ctx.run }}" } }
"#;
const SINK: &str = r#"
name: sink
trigger: manual
steps:
  - id: rest
    wait: { duration: 1s }
"#;

#[test]
fn ctx_run_carries_id_automation_version_subject_attempt_parent_and_start() {
    let k = Keystep::with_examples();
    k.write("automations/outer.yaml", RUN_FIELDS);
    k.write("automations/inner.yaml", INNER);
    k.write("automations/sink.yaml", SINK);
    let (code, outer) = k.run_json("outer", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{outer}");
    let run = &outer["run"];
    let version: String = k
        .db()
        .query_row(
            "SELECT version FROM runs WHERE id = ?1",
            [run["id"].as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version.len(), 64, "a SHA-256: {version}");
    assert_eq!(
        outer["steps"][0]["input"]["context"]["seen"],
        json!({
            "id": run["id"],
            "automation": "outer",
            "version": version,
            "subject": "u-ada",
            "attempt": 1,
            "parent": null,
            "started_at": run["created_at"],
        })
    );
    // The child's ctx.run names its parent.
    let inner = k.show(outer["run"]["children"][0].as_i64().unwrap());
    let seen = &inner["steps"][0]["input"]["context"]["seen"];
    assert_eq!(seen["id"], inner["run"]["id"]);
    assert_eq!(seen["automation"], "inner");
    assert_eq!(seen["parent"], run["id"]);
    // Its context has no `user_id`, so it has no subject.
    assert_eq!(seen["subject"], Json::Null);
    assert_eq!(seen["started_at"], inner["run"]["created_at"]);
    assert_ne!(seen["version"], json!(version), "inner has its own file");
}

/// The id of the open task of `kind` about `subject` for `entitlement`.
fn task(k: &Keystep, kind: &str, subject: &str, entitlement: &str) -> i64 {
    let tasks = k.json(&["tasks", "list", "--kind", kind, "--subject", subject]);
    tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["entitlement_id"] == entitlement)
        .unwrap_or_else(|| panic!("no {kind} task for {entitlement}: {tasks}"))["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn tasks_cancel_closes_a_task_without_changing_access() {
    let k = Keystep::with_examples();
    k.start("onboarding", "u-alan");
    let id = task(&k, "grant", "u-alan", "okta:user");
    let cancelled = k.json(&["tasks", "cancel", &id.to_string()]);
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert_eq!(
        k.count(
            "SELECT count(*) FROM grants WHERE user_id = 'u-alan' AND entitlement_id = 'okta:user'"
        ),
        0
    );
    let listed = k.json(&["tasks", "list", "--state", "cancelled"]);
    let ids: Vec<&Json> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!(id)]);
    // A cancelled task is closed: it can be neither completed nor cancelled.
    for verb in ["complete", "cancel"] {
        let ran = k.run(&["tasks", verb, &id.to_string()]);
        assert_eq!(ran.code, 2, "{verb}: {ran:?}");
        assert_eq!(
            k.count("SELECT count(*) FROM grants WHERE user_id = 'u-alan' AND entitlement_id = 'okta:user'"),
            0
        );
    }
}

#[test]
fn runs_cancel_records_the_reason() {
    let k = Keystep::with_examples();
    let id = k.start("onboarding", "u-alan")["run_id"].as_i64().unwrap();
    let cancelled = k.json(&[
        "runs",
        "cancel",
        &id.to_string(),
        "--reason",
        "hire fell through",
    ]);
    assert_eq!(cancelled["state"], "cancelled");
    let history = k.show(id);
    assert_eq!(history["run"]["state"], "cancelled");
    assert_eq!(history["run"]["error"], "cancelled: hire fell through");
    // The wait it was in is closed with the same reason; resuming does nothing.
    let last = history["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["step_id"], "first_review", "{history}");
    assert_eq!(last["state"], "failed");
    assert_eq!(last["error"], "cancelled: hire fell through");
    k.ok(&["runs", "resume", "--now", "2099-01-01T00:00:00Z"]);
    assert_eq!(k.show(id)["run"]["state"], "cancelled");
}

#[test]
fn runs_list_limit_keeps_the_newest() {
    let k = Keystep::with_examples();
    for user in ["u-ada", "u-linus", "u-john"] {
        k.start("offboarding-follow-up", user);
    }
    let ids = |args: &[&str]| -> Vec<i64> {
        k.json(args)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&["runs", "list"]), [3, 2, 1]);
    assert_eq!(ids(&["runs", "list", "--limit", "2"]), [3, 2]);
    assert_eq!(ids(&["runs", "list", "--limit", "1"]), [3]);
}

#[test]
fn the_access_risk_example_reviews_high_scores_only() {
    let k = Keystep::with_examples();
    k.with_plugins(&["risk-rust"]);
    // Ken scores high (the demo's case): a campaign over his access.
    let (code, ken) = k.run_json("access-risk", r#"{"user_id": "u-ken"}"#);
    assert_eq!(code, 0, "{ken}");
    let outputs = &ken["run"]["outputs"];
    let score = outputs["score"]["score"].as_i64().unwrap();
    assert!(score >= 30, "{outputs}");
    assert_eq!(
        outputs["review"]["name"],
        format!("High-risk access of u-ken (score {score})")
    );
    let reviews = outputs["review"]["reviews"].as_i64().unwrap();
    assert_eq!(
        k.count("SELECT count(*) FROM tasks WHERE kind = 'review' AND subject_id = 'u-ken'"),
        reviews
    );
    assert_eq!(
        reviews,
        k.count("SELECT count(*) FROM grants WHERE user_id = 'u-ken'")
    );

    // Hedy (inactive, one grant) scores under 30: the review is skipped.
    let (code, low) = k.run_json("access-risk", r#"{"user_id": "u-hedy"}"#);
    assert_eq!(code, 0, "{low}");
    assert!(
        low["run"]["outputs"]["score"]["score"].as_i64().unwrap() < 30,
        "{low}"
    );
    assert_eq!(low["steps"][1]["state"], "skipped", "{low}");
    assert_eq!(
        k.count("SELECT count(*) FROM tasks WHERE subject_id = 'u-hedy'"),
        0
    );
}

#[test]
fn create_account_credential_is_one_of_three_choices() {
    let k = Keystep::new();
    let file = |credential: &str| {
        format!(
            "name: acct\ntrigger: manual\nsteps:\n  - id: a\n    create_account: \
             {{ connector: tracker, method: from_user, user: subject, credential: {credential} }}\n"
        )
    };
    for good in ["no_password", "random_password", "sso"] {
        k.write("automations/acct.yaml", &file(good));
        k.ok(&["validate"]);
    }
    k.write("automations/acct.yaml", &file("password123"));
    let ran = k.run(&["validate"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains(
            "automations/acct.yaml:5:89: create_account.credential: expected one of \
             no_password, random_password, sso"
        ),
        "{ran:?}"
    );
}
