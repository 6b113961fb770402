//! The run's subject and the keywords that stand for it: the directory says
//! who the subject is, whatever the input carries; `subject` and `all` are
//! keywords only where the file says them, never when data does.

use keystep_tests::Keystep;
use serde_json::{Value as Json, json};

/// Runs `automation` with `--json`, never following a wait; returns the exit
/// code and the output.
fn run(k: &Keystep, automation: &str, input: &str) -> (i32, Json) {
    let ran = k.run(&[
        "--json", "run", automation, "--follow", "0s", "--input", input,
    ]);
    assert!(ran.code == 0 || ran.code == 1, "{ran:?}");
    (ran.code, ran.json())
}

#[test]
fn a_user_object_in_the_input_does_not_replace_the_directory_record() {
    let k = Keystep::with_examples();
    let john_before = k.count("SELECT count(*) FROM delegates WHERE delegate_id = 'u-john'");
    let (code, out) = run(
        &k,
        "offboarding",
        r#"{"user_id": "u-ada", "user": {"id": "u-ada", "manager_id": "u-john", "display_name": "Mallory", "email": "ada@example.com"}}"#,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["state"], "waiting", "{out}");
    let run = k.show(out["run_id"].as_i64().unwrap());
    let user = &run["run"]["trigger"]["user"];
    assert_eq!(user["manager_id"], "u-ken", "{user}");
    assert_eq!(user["display_name"], "Ada Lovelace", "{user}");
    // Ada's work went to her manager in the directory, none to John.
    assert_eq!(
        k.count("SELECT count(*) FROM tasks WHERE assignee_id = 'u-john'"),
        0
    );
    assert!(k.count("SELECT count(*) FROM tasks WHERE assignee_id = 'u-ken'") > 0);
    assert_eq!(
        k.count("SELECT count(*) FROM delegates WHERE delegate_id = 'u-john'"),
        john_before
    );
    assert_eq!(
        k.count("SELECT count(*) FROM delegates WHERE delegate_id = 'u-ada'"),
        0
    );
}

#[test]
fn the_trigger_condition_sees_the_directory_record_too() {
    let k = Keystep::with_examples();
    k.write(
        "automations/finance.yaml",
        r#"
name: finance
trigger:
  manual:
    when: ctx.trigger.user.department == "Finance"
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
"#,
    );
    let ran = k.run(&[
        "--json",
        "run",
        "finance",
        "--input",
        r#"{"user_id": "u-ada", "user": {"department": "Finance"}}"#,
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json()["started"], false, "{ran:?}");
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id = 'u-ada' AND status = 'active'"),
        1
    );
}

#[test]
fn a_user_id_that_is_not_text_is_refused_before_anything_starts() {
    let k = Keystep::with_examples();
    for (input, shown) in [
        (r#"{"user_id": 5}"#, "got 5"),
        (r#"{"user_id": null}"#, "got null"),
        (r#"{"user_id": ["u-ada"]}"#, r#"got ["u-ada"]"#),
    ] {
        for dry_run in [false, true] {
            let mut args = vec!["run", "offboarding", "--input", input];
            if dry_run {
                args.push("--dry-run");
            }
            let ran = k.run(&args);
            assert_eq!(ran.code, 2, "{input}: {ran:?}");
            assert!(
                ran.stderr
                    .contains(&format!("user_id must be a user id (text), {shown}")),
                "{input}: {}",
                ran.stderr
            );
        }
    }
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);
    assert_eq!(k.count("SELECT count(*) FROM tasks"), 0);
}

const KEYWORDS_FROM_DATA: &str = r#"
name: keywords
trigger: manual
steps:
  - id: revoke_whole
    revoke_entitlements: { user: subject, entitlements: "{{ ctx.trigger.word }}" }
  - id: revoke_item
    revoke_entitlements: { user: subject, entitlements: ["{{ ctx.trigger.word }}"] }
  - id: grant
    grant_entitlements: { user: subject, entitlements: "{{ ctx.trigger.word }}" }
    on_error: continue
  - id: profiles
    remove_access_profiles: { user: subject, profiles: "{{ ctx.trigger.word }}" }
    on_error: continue
  - id: disable
    modify_user_status: { user: "{{ ctx.trigger.who }}", status: disabled }
    on_error: continue
  - id: reassign
    perform_task_action:
      user: u-margaret
      relation: assignee
      task_types: [revoke]
      action: { reassign: "{{ ctx.trigger.who }}" }
    on_error: continue
"#;

const KEYWORDS_LITERAL: &str = r#"
name: literal-keywords
trigger: manual
steps:
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: [all] }
  - id: profiles
    remove_access_profiles: { user: subject, profiles: all }
  - id: disable
    modify_user_status: { user: subject, status: disabled }
"#;

#[test]
fn keywords_come_only_from_the_file_never_from_data() {
    let k = Keystep::with_examples();
    k.write("automations/keywords.yaml", KEYWORDS_FROM_DATA);
    k.write("automations/literal-keywords.yaml", KEYWORDS_LITERAL);
    let (code, out) = run(
        &k,
        "keywords",
        r#"{"user_id": "u-ada", "word": "all", "who": "subject"}"#,
    );
    assert_eq!(code, 0, "{out}");
    let outputs = &out["run"]["outputs"];
    for step in ["revoke_whole", "revoke_item"] {
        assert_eq!(outputs[step]["revoked"], json!([]), "{step}: {outputs}");
        assert_eq!(
            outputs[step]["not_held"],
            json!(["all"]),
            "{step}: {outputs}"
        );
    }
    for (step, error) in [
        ("grant", "unknown entitlement `all`"),
        ("profiles", "unknown access profile `all`"),
        ("disable", "unknown user `subject`"),
        ("reassign", "unknown user `subject`"),
    ] {
        let got = outputs[step]["error"].as_str().unwrap_or_default();
        assert!(got.contains(error), "{step}: {outputs}");
    }
    // Nothing happened to Ada: no task, still enrolled, still active.
    assert_eq!(k.count("SELECT count(*) FROM tasks"), 0);
    assert_eq!(
        k.count("SELECT count(*) FROM enrollments WHERE user_id = 'u-ada'"),
        1
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE status = 'disabled'"),
        0
    );

    // The same words written in the file are keywords.
    let (code, out) = run(&k, "literal-keywords", r#"{"user_id": "u-linus"}"#);
    assert_eq!(code, 0, "{out}");
    let outputs = &out["run"]["outputs"];
    assert_eq!(
        outputs["revoke"]["revoked"].as_array().map(Vec::len),
        Some(5),
        "{outputs}"
    );
    assert_eq!(
        outputs["profiles"]["removed"],
        json!(["engineering-baseline"])
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE status = 'disabled'"),
        1
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id = 'u-linus' AND status = 'disabled'"),
        1
    );
}
