//! keystep's CEL functions against a real store: `directory.*` in a
//! trigger's `when:`, a step's `if:` and an `output:`, reading what the
//! steps committed; a manager cycle in an imported directory; and
//! `validate` refusing an unknown function or a wrong number of arguments
//! with file:line:col.

use keystep_tests::{Keystep, errors_of, expect_errors};
use serde_json::json;

const ORG: &str = r#"
name: org
trigger:
  manual:
    when: directory.manager(ctx.trigger.user) != null && !directory.has_entitlement(ctx.trigger.user, 'aws:billing')
steps:
  - id: disable
    if: size(directory.reports(ctx.trigger.user)) == 0 && directory.has_app(ctx.trigger.user, 'github')
    modify_user_status: { user: subject, status: disabled }
output:
  managers: "{{ directory.managers(ctx.trigger.user).map(m, m.id) }}"
  reports: "{{ directory.reports(ctx.trigger.user, 5).map(u, u.id).sort() }}"
  manager_email: "{{ directory.manager(ctx.trigger.user).email.upper() }}"
  status_now: "{{ directory.user(ctx.trigger.user_id).status }}"
  found: "{{ directory.find_by_email('ADA@example.com').id }}"
  admins: "{{ directory.entitlement_members('aws:prod-admin').map(u, u.id) }}"
"#;

fn run_org(k: &Keystep, user: &str) -> serde_json::Value {
    let input = json!({ "user_id": user }).to_string();
    let ran = k.run(&["--json", "run", "org", "--input", &input]);
    assert_eq!(ran.code, 0, "{ran:?}");
    ran.json()
}

#[test]
fn directory_functions_decide_runs_and_read_what_steps_committed() {
    let k = Keystep::with_examples();
    k.write("automations/org.yaml", ORG);
    let admins = k.count("SELECT count(*) FROM grants WHERE entitlement_id = 'aws:prod-admin'");
    assert!(admins > 0, "the example directory has prod admins");

    // Ada manages nobody: the step disables her, and the output, rendered
    // after that change committed, sees it.
    let run = run_org(&k, "u-ada");
    assert_eq!(run["run"]["state"], "succeeded", "{run}");
    let result = &run["run"]["output"];
    assert_eq!(result["managers"], json!(["u-ken", "u-grace"]), "{run}");
    assert_eq!(result["reports"], json!([]), "{run}");
    assert_eq!(result["manager_email"], "KEN@EXAMPLE.COM", "{run}");
    assert_eq!(result["status_now"], "disabled", "{run}");
    assert_eq!(result["found"], "u-ada", "{run}");
    assert_eq!(result["admins"].as_array().unwrap().len() as i64, admins);
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id = 'u-ada' AND status = 'disabled'"),
        1
    );

    // Ken manages three engineers: the step is skipped, nobody changes.
    let run = run_org(&k, "u-ken");
    assert_eq!(run["run"]["state"], "succeeded", "{run}");
    assert_eq!(run["run"]["output"]["status_now"], "active", "{run}");
    assert_eq!(
        run["run"]["output"]["reports"],
        json!(["u-ada", "u-alan", "u-barbara", "u-linus"]),
        "{run}"
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id = 'u-ken' AND status = 'active'"),
        1
    );

    // Grace has no manager: the trigger's condition is false, no run.
    let runs_before = k.count("SELECT count(*) FROM runs");
    let out = run_org(&k, "u-grace");
    assert_eq!(out["started"], false, "{out}");
    assert_eq!(k.count("SELECT count(*) FROM runs"), runs_before);
}

#[test]
fn a_manager_cycle_in_the_directory_ends_every_walk() {
    let k = Keystep::new();
    k.write(
        "directory.yaml",
        r#"
users:
  - { id: u-a, display_name: A, manager: u-b }
  - { id: u-b, display_name: B, manager: u-c }
  - { id: u-c, display_name: C }
  - { id: u-solo, display_name: Solo }
"#,
    );
    k.ok(&["directory", "import", "directory.yaml"]);
    // An import refuses a cycle; a directory may still come to hold one
    // (written by another tool, or by two systems disagreeing).
    rusqlite::Connection::open(k.path().join(".keystep/keystep.db"))
        .unwrap()
        .execute("UPDATE users SET manager_id = 'u-a' WHERE id = 'u-c'", [])
        .unwrap();
    k.write(
        "automations/walk.yaml",
        r#"
name: walk
trigger: manual
steps:
  - id: wait
    wait: { duration: 0s }
output:
  up: "{{ directory.managers(ctx.trigger.user).map(m, m.id) }}"
  down: "{{ directory.reports(ctx.trigger.user, 1000).map(u, u.id) }}"
  manager: "{{ directory.manager(ctx.trigger.user) }}"
"#,
    );
    let ran = k.run_within(
        &["--json", "run", "walk", "--input", r#"{"user_id": "u-a"}"#],
        std::time::Duration::from_secs(60),
    );
    let ran = ran.expect("a walk round a cycle ends");
    assert_eq!(ran.code, 0, "{ran:?}");
    let run = ran.json();
    let result = &run["run"]["output"];
    assert_eq!(result["up"], json!(["u-b", "u-c"]), "{run}");
    assert_eq!(result["down"], json!(["u-c", "u-b"]), "{run}");
    assert_eq!(result["manager"]["id"], "u-b", "{run}");

    let run = k.json(&["run", "walk", "--input", r#"{"user_id": "u-solo"}"#]);
    let result = &run["run"]["output"];
    assert_eq!(result["up"], json!([]), "{run}");
    assert_eq!(result["down"], json!([]), "{run}");
    assert_eq!(result["manager"], json!(null), "{run}");
}

#[test]
fn validate_refuses_unknown_functions_and_wrong_arities_where_they_are() {
    let k = Keystep::with_examples();
    k.write(
        "automations/typos.yaml",
        r#"name: typos
trigger:
  manual:
    when: directory.usr(ctx.trigger.user_id) != null
steps:
  - id: disable
    if: size(directory.reports(ctx.trigger.user, 1, 2)) == 0
    modify_user_status: { user: subject, status: "{{ ctx.trigger.status.lowr() }}" }
"#,
    );
    let ran = k.run(&["--json", "validate"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    expect_errors(
        &errors_of(&ran.json(), "typos.yaml"),
        &[
            "4:11: unknown function `directory.usr` (did you mean `directory.user`?)",
            "7:14: `directory.reports` takes 1 or 2 arguments (directory.reports(user, depth?)), not 3",
            "8:73: unknown function `lowr` (did you mean `lower`?)",
        ],
    );
    // Nothing of it runs.
    let ran = k.run(&["run", "typos", "--input", r#"{"user_id": "u-ada"}"#]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);
}
