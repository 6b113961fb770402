//! The shipped examples, run through the real binary: the directory, tasks,
//! campaigns and run history they leave behind.

use keystep_tests::{Keystep, OFFBOARDING_STEPS, step_ids};
use serde_json::Value as Json;

fn ids(v: &Json) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn directory_import_is_complete_and_idempotent() {
    let k = Keystep::with_examples();
    let events = k.count("SELECT count(*) FROM events");
    assert_eq!(k.count("SELECT count(*) FROM users"), 13);
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'user_created'"),
        13
    );
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'grant_added'"),
        35
    );
    let again = k.json(&["directory", "import", "directory.yaml"]);
    assert_eq!(again["summary"]["users"]["updated"], 0, "{again}");
    assert_eq!(again["changes"], serde_json::json!([]), "{again}");
    assert_eq!(
        k.count("SELECT count(*) FROM events"),
        events,
        "a second import changes nothing"
    );
    let shown = k.json(&["directory", "show"]);
    assert_eq!(shown["users"], 13);
    assert_eq!(shown["apps"], 5);
    assert_eq!(shown["access_profiles"], 2);
    assert_eq!(shown["review_templates"], 1);
    let ada = k.json(&["directory", "show", "u-ada"]);
    assert_eq!(ada["user"]["manager_id"], "u-ken");
    assert_eq!(ids(&ada["delegated_by"]), ["u-barbara", "u-ken"]);
    assert_eq!(ids(&ada["access_profiles"]), ["engineering-baseline"]);
    assert_eq!(ada["grants"].as_array().unwrap().len(), 8);
}

#[test]
fn directory_import_errors_name_the_place_and_change_nothing() {
    let k = Keystep::with_examples();
    k.write(
        "bad.yaml",
        "users:\n  - { id: u-x, display_name: X, colour: blue }\n",
    );
    let ran = k.run(&["directory", "import", "bad.yaml"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("bad.yaml:2:") && ran.stderr.contains("unknown field `colour`"),
        "{}",
        ran.stderr
    );
    // JSON works too, and its errors also carry line and column.
    k.write(
        "people.json",
        "{\"users\": [{\"id\": \"u-json\", \"display_name\": \"Jay Son\"}]}",
    );
    k.ok(&["directory", "import", "people.json"]);
    assert_eq!(k.count("SELECT count(*) FROM users WHERE id = 'u-json'"), 1);
    k.write("broken.json", "{\"users\": [\n  {\"id\": }\n]}");
    let ran = k.run(&["directory", "import", "broken.json"]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("broken.json:2:"), "{}", ran.stderr);
    let before = k.count("SELECT count(*) FROM events");
    // Valid YAML whose second half is wrong: the first half is not kept.
    k.write("half.yaml", "users:\n  - { id: u-new, display_name: New }\ngrants:\n  - { user: u-new, entitlement: aws:nope }\n");
    let ran = k.run(&["directory", "import", "half.yaml"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("unknown entitlement `aws:nope`"),
        "{}",
        ran.stderr
    );
    assert_eq!(k.count("SELECT count(*) FROM users WHERE id = 'u-new'"), 0);
    assert_eq!(k.count("SELECT count(*) FROM events"), before);
}

#[test]
fn onboarding_opens_grant_tasks_and_a_review_after_the_wait() {
    let k = Keystep::with_examples();
    let out = k.start("onboarding", "u-alan");
    assert_eq!(out["state"], "waiting");
    let run = out["run_id"].as_i64().unwrap();
    let tasks = k.json(&["tasks", "list", "--subject", "u-alan"]);
    let wanted: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["entitlement_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        wanted,
        [
            "okta:user",
            "github:member",
            "jira:user",
            "aws:app-access",
            "jira:engineering-team",
            "aws:staging-admin"
        ]
    );
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["kind"] == "grant" && t["state"] == "open")
    );
    // Owners are the assignees: github is Ada's.
    assert_eq!(tasks[1]["assignee_id"], "u-ada");

    // The app owner completes two tasks: the grants appear.
    for t in [&tasks[0], &tasks[3]] {
        k.ok(&["tasks", "complete", &t["id"].to_string()]);
    }
    let alan = k.json(&["directory", "show", "u-alan"]);
    let grants: Vec<&str> = alan["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["entitlement_id"].as_str().unwrap())
        .collect();
    assert_eq!(grants, ["aws:app-access", "okta:user"]);

    // Thirty days on, the run resumes and opens a review of what Alan holds.
    k.ok(&["runs", "resume", "--now", "2099-01-01T00:00:00Z"]);
    let history = k.json(&["runs", "show", &run.to_string()]);
    assert_eq!(history["run"]["state"], "succeeded");
    let review = &history["run"]["outputs"]["review"];
    assert_eq!(review["name"], "30-day access check for Alan Turing");
    assert_eq!(review["reviews"], 2);
    let reviews = k.json(&["tasks", "list", "--kind", "review"]);
    assert!(
        reviews
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["assignee_id"] == "u-ken"),
        "Alan's manager reviews"
    );
}

#[test]
fn offboarding_end_to_end() {
    let k = Keystep::with_examples();
    // Ada owns GitHub, so Alan's GitHub grant task is assigned to her.
    k.start("onboarding", "u-alan");
    let out = k.start("offboarding", "u-ada");
    assert_eq!(out["state"], "waiting");
    let run = out["run_id"].as_i64().unwrap();

    let ada = k.json(&["directory", "show", "u-ada"]);
    assert_eq!(ada["user"]["status"], "disabled");
    assert_eq!(ids(&ada["access_profiles"]), Vec::<String>::new());
    assert_eq!(ids(&ada["delegated_by"]), Vec::<String>::new());
    // Ken's delegation moved to Ken himself, so it was removed; Barbara's moved to Ken.
    assert_eq!(
        ids(&k.json(&["directory", "show", "u-ken"])["delegated_by"]),
        ["u-barbara"]
    );
    // Revoke tasks for everything but okta:user; grants stay until the owner acts.
    let revokes: Vec<String> = ada["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "revoke")
        .map(|t| t["entitlement_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(revokes.len(), 7);
    assert!(!revokes.contains(&"okta:user".to_string()));
    // Every task Ada was assigned (GitHub ones) is now Ken's.
    assert_eq!(ada["assigned_tasks"].as_array().unwrap().len(), 0);
    let handed = k.json(&["tasks", "list", "--assignee", "u-ken"]);
    assert!(
        handed
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["subject_id"] == "u-alan" && t["entitlement_id"] == "github:member")
    );
    // A campaign with one review per grant, reviewed by her manager.
    let campaign = k.json(&["directory", "show"])["campaigns_list"][0].clone();
    assert_eq!(campaign["name"], "Offboarding review for Ada Lovelace");
    let reviews = k.json(&["tasks", "list", "--kind", "review", "--subject", "u-ada"]);
    assert_eq!(reviews.as_array().unwrap().len(), 8);
    assert!(
        reviews
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["assignee_id"] == "u-ken" && t["campaign_id"] == campaign["id"])
    );

    // Reviews decided `revoke` open a revoke task (or reuse the open one).
    let okta_review = reviews
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["entitlement_id"] == "okta:user")
        .unwrap();
    k.ok(&[
        "tasks",
        "complete",
        &okta_review["id"].to_string(),
        "--decision",
        "revoke",
    ]);
    assert_eq!(
        k.json(&["tasks", "list", "--kind", "revoke", "--subject", "u-ada"])
            .as_array()
            .unwrap()
            .len(),
        8
    );
    // Completing a revoke task removes the grant.
    let okta_revoke = k
        .json(&["tasks", "list", "--kind", "revoke", "--subject", "u-ada"])
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(okta_revoke["entitlement_id"], "okta:user");
    k.ok(&["tasks", "complete", &okta_revoke["id"].to_string()]);
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["grants"]
            .as_array()
            .unwrap()
            .len(),
        7
    );

    // A week later the follow-up runs: it waits for the child and gets its output.
    k.ok(&["runs", "resume", "--now", "2099-01-01T00:00:00Z"]);
    let history = k.json(&["runs", "show", &run.to_string()]);
    assert_eq!(history["run"]["state"], "succeeded");
    assert_eq!(step_ids(&history), OFFBOARDING_STEPS);
    let follow = &history["run"]["outputs"]["follow_up"];
    assert_eq!(follow["state"], "succeeded");
    assert_eq!(follow["output"]["mark_inactive"]["new_status"], "inactive");
    // Okta was already revoked by hand, so the follow-up had nothing to revoke.
    assert_eq!(
        follow["output"]["remove_sso"]["revoked"],
        serde_json::json!([])
    );
    // The same step does revoke Okta from someone who still holds it: its
    // selector matches, so the empty list above means "nothing left".
    let (code, grace) = k.run_json("offboarding-follow-up", r#"{"user_id": "u-grace"}"#);
    assert_eq!(code, 0, "{grace}");
    assert_eq!(
        grace["run"]["outputs"]["remove_sso"]["revoked"],
        serde_json::json!(["okta:user"])
    );
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "inactive"
    );
    // Resolved inputs are kept in history.
    assert_eq!(history["steps"][3]["input"]["action"]["reassign"], "u-ken");
    // Every directory change is in the event log with the step that made it.
    let events = k.json(&["directory", "show", "u-ada", "--events"])["events"].clone();
    let disabled = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "user_updated" && e["actor"] != "import")
        .unwrap();
    assert_eq!(disabled["actor"], format!("run {run}/disable/1"));
    assert_eq!(disabled["payload"]["old_user"]["status"], "active");
    assert_eq!(disabled["payload"]["new_user"]["status"], "disabled");
}

#[test]
fn role_change_honours_its_trigger_condition() {
    let k = Keystep::with_examples();
    let whit = k.json(&["directory", "show", "u-whit"])["user"].clone();
    let mut moved = whit.clone();
    moved["department"] = "Engineering".into();
    let same =
        serde_json::json!({"user_id": "u-whit", "old_user": whit, "new_user": whit}).to_string();
    let out = k.json(&["run", "role-change", "--input", &same]);
    assert_eq!(out["started"], false);
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0, "nothing started");
    assert_eq!(k.count("SELECT count(*) FROM step_attempts"), 0);
    let input =
        serde_json::json!({"user_id": "u-whit", "old_user": whit, "new_user": moved}).to_string();
    let history = k.json(&["run", "role-change", "--input", &input]);
    assert_eq!(history["run"]["state"], "succeeded");
    assert_eq!(k.count("SELECT count(*) FROM runs"), 1);
    assert_eq!(
        history["run"]["outputs"]["old_team"]["revoked"],
        serde_json::json!(["jira:security-team"])
    );
    assert_eq!(
        history["run"]["outputs"]["new_team"]["requested"],
        serde_json::json!(["jira:engineering-team"])
    );
}

#[test]
fn human_output_shows_each_step() {
    let k = Keystep::with_examples();
    let out = k.ok(&[
        "run",
        "offboarding",
        "--follow",
        "0s",
        "--input",
        r#"{"user_id": "u-linus"}"#,
    ]);
    for line in [
        "▶ run 1 (offboarding)",
        "✓ disable",
        "✓ revoke",
        "⏳ grace_period",
        "waits until",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let list = k.ok(&["runs", "list"]);
    assert!(
        list.starts_with("ID") && list.contains("offboarding") && list.contains("waiting"),
        "{list}"
    );
    // Each attempt with its resolved input and its output, in order.
    let show = k.ok(&["runs", "show", "1"]);
    let revoke: Vec<&str> = show
        .lines()
        .skip_while(|l| !l.starts_with("✓ revoke (revoke_entitlements) attempt 1  succeeded"))
        .take(4)
        .map(str::trim)
        .collect();
    assert_eq!(revoke.len(), 4, "{show}");
    assert!(revoke[1].starts_with("started   "), "{show}");
    assert_eq!(
        revoke[2],
        r#"input     {"entitlements":"all","exclude":["okta:user"],"user":"subject"}"#
    );
    assert!(
        revoke[3].starts_with(r#"output    {"connector":[],"excluded":["okta:user"],"#)
            && revoke[3].contains(
                r#""revoked":["aws:app-access","aws:prod-readonly","github:member","jira:user"]"#
            ),
        "{show}"
    );
}
