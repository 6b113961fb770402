//! `keystep validate`: every class of error in an automation file is reported
//! with the file, line and column it is at, all of them at once, with exit
//! code 2; valid files pass with exit code 0.

use keystep_tests::{Keystep, errors_of, expect_errors};
use serde_json::{Value as Json, json};

/// Runs `keystep --json validate ARGS` and asserts exit code `code`.
fn validate(k: &Keystep, args: &[&str], code: i32) -> Json {
    let mut all = vec!["--json", "validate"];
    all.extend_from_slice(args);
    let ran = k.run(&all);
    assert_eq!(ran.code, code, "{all:?}:\n{}\n{}", ran.stdout, ran.stderr);
    ran.json()
}

/// Validates `text` as `auto.yaml` in `k` (exit 2) and checks its errors.
#[track_caller]
fn check_in(k: &Keystep, text: &str, want: &[&str]) {
    k.write("auto.yaml", text);
    let out = validate(k, &["auto.yaml"], 2);
    assert_eq!((&out["files"], &out["valid"]), (&json!(1), &json!([])));
    expect_errors(&errors_of(&out, "auto.yaml"), want);
}

/// Validates `text` in an empty working directory.
#[track_caller]
fn check(text: &str, want: &[&str]) {
    check_in(&Keystep::new(), text, want);
}

/// A file whose `steps` (starting with a newline) begin on line 4.
fn with_steps(steps: &str) -> String {
    format!("name: t\ntrigger: manual\nsteps:{steps}")
}

#[test]
fn yaml_syntax_error() {
    let text = with_steps("\n  - id: x\n    wait: { duration: [1h, 2h }\n");
    check(
        &text,
        &["5:31: invalid YAML: while parsing a flow sequence"],
    );
}

#[test]
fn top_level_must_be_a_mapping() {
    check("- a\n- b\n", &["1:1: expected a mapping at the top level"]);
    check("just text\n", &["1:1: expected a mapping at the top level"]);
}

#[test]
fn top_level_keys() {
    // Missing keys are reported where the top-level mapping starts.
    check(
        "# an automation\ndescription: d\nnme: t\n",
        &[
            "3:1: unknown key `nme` in automation (did you mean `name`?)",
            "2:1: missing `name`",
            "2:1: missing `trigger` (for example `trigger: manual`)",
            "2:1: missing `steps`",
        ],
    );
    check(
        "name: t\ntrigger: manual\nsteps: []\n",
        &["3:8: `steps` is empty"],
    );
}

#[test]
fn triggers() {
    let file = |trigger: &str| {
        format!("name: t\ntrigger:{trigger}\nsteps:\n  - id: x\n    wait: {{ duration: 1h }}\n")
    };
    check(
        &file(" user_update"),
        &["2:10: unknown trigger `user_update` (did you mean `user_updated`?)"],
    );
    check(
        &file("\n  grant_added:\n    ap: aws"),
        &["4:5: unknown key `ap` in trigger `grant_added` (did you mean `app`?)"],
    );
    // `schedule` needs `cron` however its settings are written.
    for (trigger, at) in [
        ("\n  schedule:\n    timezone: UTC", "3:3"),
        ("\n  schedule:", "3:3"),
        (" schedule", "2:10"),
    ] {
        check(
            &file(trigger),
            &[format!("{at}: trigger `schedule` needs `cron`").as_str()],
        );
    }
}

#[test]
fn unknown_step_type() {
    check(
        &with_steps(
            "\n  - id: revoke\n    revoke_entitlement:\n      user: subject\n      entitlements: all\n",
        ),
        &["5:5: unknown step type `revoke_entitlement` (did you mean `revoke_entitlements`?)"],
    );
}

#[test]
fn one_step_type_per_step() {
    let text = with_steps(
        r#"
  - id: both
    wait: { duration: 1h }
    modify_user_status: { user: subject, status: active }
  - id: none
    retry: { attempts: 2 }
"#,
    );
    check(
        &text,
        &[
            "6:5: a step has one step type; `modify_user_status` is a second one",
            "7:5: the step names no step type",
        ],
    );
}

#[test]
fn unknown_and_missing_fields() {
    // A missing field is reported at the step type's key.
    check(
        &with_steps(
            "\n  - id: status\n    modify_user_status:\n      usr: subject\n      status: disabled\n",
        ),
        &[
            "6:7: unknown field `usr` (did you mean `user`?); expected one of user, status",
            "5:5: modify_user_status: missing required field `user`",
        ],
    );
}

#[test]
fn literals_of_the_wrong_shape() {
    let text = with_steps(
        r#"
  - id: status
    modify_user_status: { user: subject, status: enabled }
  - id: pause
    wait: { duration: soon }
  - id: revoke
    revoke_entitlements:
      user: subject
      entitlements: { ap: aws }
"#,
    );
    check(
        &text,
        &[
            "5:50: modify_user_status.status: expected one of active, disabled, inactive",
            "7:23: wait.duration: `soon` is not a duration",
            "11:21: entitlements: unknown selector key `ap`; expected one of app, resource_type",
        ],
    );
}

#[test]
fn cel_that_does_not_compile() {
    // In `if:`, the column of the `)`; past the opening quote when quoted.
    check(
        &with_steps("\n  - id: a\n    if: ctx.trigger.x == )\n    wait: { duration: 1h }\n"),
        &["5:26: `if`: Syntax error: mismatched input ')'"],
    );
    check(
        &with_steps("\n  - id: a\n    if: \"ctx.trigger.x == )\"\n    wait: { duration: 1h }\n"),
        &["5:27: `if`: Syntax error: mismatched input ')'"],
    );

    // Inside `{{ }}`, the column points into the string at the `)`: past the
    // quote of a quoted scalar, counting characters rather than bytes, and on
    // the expression's own line in a block scalar.
    let campaign = |name: &str| {
        with_steps(&format!(
            "\n  - id: c\n    create_campaign:\n      template: t\n      user: subject\n      name: {name}\n"
        ))
    };
    for (name, at) in [
        ("Hi {{ ctx.trigger.x == ) }}", "8:36"),
        ("\"Hi {{ ctx.trigger.x == ) }} there\"", "8:37"),
        ("'é {{ ctx.trigger.x == ) }}'", "8:36"),
        ("|\n        Hi {{ ctx.trigger.x == ) }}", "9:32"),
    ] {
        let cel = format!("{at}: create_campaign.name: Syntax error: mismatched input ')'");
        check(&campaign(name), &[cel.as_str()]);
    }
    // An unclosed `{{`: at the `{{`.
    check(
        &campaign("\"Hi {{ ctx.trigger.x\""),
        &["8:17: create_campaign.name: `{{` is never closed with `}}`"],
    );
}

#[test]
fn references_to_step_outputs() {
    let text = with_steps(
        r#"
  - id: first
    wait: { duration: 1h }
  - id: early
    if: ctx.later.done
    wait: { duration: 1h }
  - id: self_ref
    create_campaign:
      template: t
      user: "{{ ctx.self_ref.user }}"
  - id: unknown
    create_campaign: { template: t, user: subject, name: "x {{ ctx.frist.until }}" }
  - id: later
    wait: { duration: 1h }
"#,
    );
    check(
        &text,
        &[
            "7:9: step `early`: ctx.later refers to a step that comes later",
            "12:13: step `self_ref`: ctx.self_ref is this step's own output",
            "14:58: step `unknown`: ctx.frist is not a step id (did you mean `first`?)",
        ],
    );
}

#[test]
fn step_ids() {
    let text = with_steps(
        r#"
  - id: first
    wait: { duration: 1h }
  - id: Notify-IT
    wait: { duration: 1h }
  - wait: { duration: 2h }
    id: first
"#,
    );
    check(
        &text,
        &[
            "6:9: step id `Notify-IT` must be lower_snake_case",
            "8:5: duplicate step id `first` (first used at line 4)",
        ],
    );
}

#[test]
fn retry_on_error_and_timeout() {
    let text = with_steps(
        r#"
  - id: pause
    wait: { duration: 1h }
    retry: { attempts: 0, backof: 1s }
    on_error: explode
    timeout: forever
"#,
    );
    check(
        &text,
        &[
            "6:27: unknown key `backof` in retry (did you mean `backoff`?)",
            "6:24: `retry.attempts` must be a whole number from 1 to 100",
            "8:14: `timeout`: `forever` is not a duration",
            "7:15: `on_error` must be `fail` or `continue`",
        ],
    );
}

const DIRECTORY_REFS: &str = r#"name: refs
trigger: manual
steps:
  - id: status
    modify_user_status: { user: u-nobody, status: active }
  - id: grant
    grant_entitlements:
      user: subject
      entitlements: [okta:user, aws:nope]
  - id: revoke
    revoke_entitlements: { user: u-ada, entitlements: { app: awz } }
  - id: profiles
    remove_access_profiles: { user: subject, profiles: [engineering-nope] }
  - id: review
    create_campaign: { template: no-such-review, user: [u-ada, u-ghost] }
"#;

#[test]
fn literals_checked_against_the_directory() {
    let k = Keystep::with_examples();
    check_in(
        &k,
        DIRECTORY_REFS,
        &[
            "5:33: modify_user_status.user: unknown user `u-nobody`",
            "9:21: grant_entitlements.entitlements: unknown entitlement `aws:nope`",
            "11:55: revoke_entitlements.entitlements: unknown app `awz`",
            "13:56: remove_access_profiles.profiles: unknown access profile `engineering-nope`",
            "15:34: create_campaign.template: unknown review template `no-such-review`",
            "15:56: create_campaign.user: unknown user `u-ghost`",
        ],
    );
    assert_eq!(validate(&k, &["auto.yaml"], 2)["directory_checked"], true);

    // With an empty directory, none of this can be checked.
    let k = Keystep::new();
    k.write("auto.yaml", DIRECTORY_REFS);
    let out = validate(&k, &["auto.yaml"], 0);
    assert_eq!(out["directory_checked"], false);
    assert_eq!(
        (&out["valid"], &out["errors"]),
        (&json!(["refs"]), &json!([]))
    );
}

#[test]
fn run_automation_targets() {
    let k = Keystep::new();
    let file = |name: &str, trigger: &str, target: &str| {
        let text = format!(
            "name: {name}\ntrigger: {trigger}\nsteps:\n  - id: go\n    run_automation:\n      automation: {target}\n"
        );
        k.write(&format!("automations/{name}.yaml"), &text);
    };
    file("a", "manual", "b");
    file("b", "manual", "a");
    file("hook", "user_created", "a");
    file("calls_nowhere", "manual", "nowhere");
    file("calls_hook", "manual", "hook");
    let out = validate(&k, &[], 2);
    assert_eq!(out["files"], 5);
    expect_errors(
        &errors_of(&out, "/a.yaml"),
        &["6:19: run_automation.automation: run_automation cycle: a → b → a"],
    );
    expect_errors(
        &errors_of(&out, "/b.yaml"),
        &["6:19: run_automation cycle: b → a → b"],
    );
    expect_errors(
        &errors_of(&out, "calls_nowhere.yaml"),
        &["6:19: no automation named `nowhere`"],
    );
    expect_errors(
        &errors_of(&out, "calls_hook.yaml"),
        &[
            "6:19: automation `hook` has trigger `user_created`; run_automation needs one with `trigger: manual`",
        ],
    );
    // `hook` starts `a`, which is manual; the cycle does not lead back to `hook`.
    assert_eq!(out["valid"], json!(["hook"]));

    // A target with errors of its own: they are reported against its file only.
    k.write(
        "automations/b.yaml",
        "name: b\ntrigger: manual\nsteps:\n  - id: x\n    wiat: { duration: 1h }\n",
    );
    let out = validate(&k, &["automations/a.yaml", "automations/b.yaml"], 2);
    expect_errors(
        &errors_of(&out, "/a.yaml"),
        &["6:19: automation `b` has errors of its own (./automations/b.yaml)"],
    );
    expect_errors(
        &errors_of(&out, "/b.yaml"),
        &["5:5: unknown step type `wiat` (did you mean `wait`?)"],
    );
}

#[test]
fn wait_needs_duration_or_until() {
    let text = with_steps(
        r#"
  - id: both
    wait:
      duration: 1h
      until: 2026-01-01T00:00:00Z
  - id: neither
    wait: {}
  - id: bad_until
    wait: { until: tomorrow }
"#,
    );
    check(
        &text,
        &[
            "4:5: wait: give exactly one of `duration` (e.g. 7d) or `until` (a timestamp)",
            "8:5: wait: give exactly one of `duration`",
            "11:20: wait.until: expected an RFC 3339 timestamp",
        ],
    );
}

#[test]
fn perform_task_action_action() {
    let step = |action: &str| {
        with_steps(&format!(
            "\n  - id: hand_over\n    perform_task_action:\n      user: subject\n      task_types: [grant]\n      action: {action}\n"
        ))
    };
    for action in [
        "explode",
        "{ reassign: [u-ada] }",
        "{ reassign: u-ada, also: x }",
    ] {
        check(
            &step(action),
            &[
                "8:15: perform_task_action: `action` must be `complete`, `cancel`, or `{ reassign: USER }`",
            ],
        );
    }
    let k = Keystep::new();
    for action in [
        "complete",
        "cancel",
        "{ reassign: u-ada }",
        "\"{{ ctx.trigger.action }}\"",
    ] {
        k.write("auto.yaml", &step(action));
        validate(&k, &["auto.yaml"], 0);
    }
}

#[test]
fn valid_files_pass() {
    let k = Keystep::new();
    k.write(
        "ok.yaml",
        &with_steps("\n  - id: pause\n    wait: { duration: 7d }\n    retry: { attempts: 3, backoff: 5s }\n    timeout: 1h\n    on_error: continue\n"),
    );
    let out = validate(&k, &["ok.yaml"], 0);
    assert_eq!(
        out,
        json!({"files": 1, "valid": ["t"], "errors": [], "directory_checked": false})
    );

    // The examples validate clean against the example directory.
    let out = validate(&Keystep::with_examples(), &[], 0);
    let valid = json!([
        "access-risk",
        "offboarding-follow-up",
        "offboarding",
        "onboarding",
        "role-change",
        "zoom-offboarding",
        "zoom-onboarding"
    ]);
    assert_eq!(
        out,
        json!({"files": 7, "valid": valid, "errors": [], "directory_checked": true})
    );
}

#[test]
fn all_errors_at_once() {
    let k = Keystep::new();
    k.write(
        "good.yaml",
        &with_steps("\n  - id: pause\n    wait: { duration: 1h }\n"),
    );
    k.write(
        "bad.yaml",
        r#"name: bad
trigger: user_update
steps:
  - id: pause
    wait: { duration: soon }
  - id: revoke
    revoke_entitlement: { user: subject, entitlements: all }
  - id: pause
    modify_user_status: { user: subject, status: enabled, colour: red }
"#,
    );
    let out = validate(&k, &["good.yaml", "bad.yaml"], 2);
    assert_eq!((&out["files"], &out["valid"]), (&json!(2), &json!(["t"])));
    let errs = errors_of(&out, "bad.yaml");
    expect_errors(
        &errs,
        &[
            "2:10: unknown trigger `user_update`",
            "5:23: `soon` is not a duration",
            "7:5: unknown step type `revoke_entitlement`",
            "9:50: expected one of active, disabled, inactive",
            "9:59: unknown field `colour`",
            "8:5: duplicate step id `pause` (first used at line 4)",
        ],
    );
}

#[test]
fn human_output() {
    let k = Keystep::new();
    k.write(
        "bad.yaml",
        &with_steps(
            "\n  - id: x\n    wiat: { duration: 1h }\n  - id: y\n    wait: { duration: soon }\n",
        ),
    );
    let ran = k.run(&["validate", "bad.yaml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let want = [
        "bad.yaml:5:5: unknown step type `wiat` (did you mean `wait`?)",
        "bad.yaml:7:23: wait.duration: `soon` is not a duration",
        "note: the directory is empty",
    ];
    let lines: Vec<&str> = ran.stderr.lines().collect();
    let ok = lines.len() == want.len() && lines.iter().zip(want).all(|(l, w)| l.starts_with(w));
    assert!(ok, "{}", ran.stderr);
    assert_eq!(
        ran.stdout.trim(),
        "1 file(s) checked: 0 valid, 1 with errors (2 error(s))"
    );
}

#[test]
fn a_cel_error_in_a_required_field_is_not_also_missing() {
    check(
        &with_steps(
            "\n  - id: m\n    send_email: { to: it@example.com, subject: \"{{ ctx. }}\", message: hi }\n",
        ),
        &["5:56: send_email.subject: Syntax error"],
    );
}

#[test]
fn a_literal_pattern_for_matches_must_be_a_regular_expression() {
    check(
        &with_steps(concat!(
            "\n  - id: a\n    if: ctx.trigger.user_id.matches(\"(unclosed\")\n    wait: { duration: 1h }",
            "\n  - id: b\n    if: matches(ctx.trigger.user_id, \"^u-[a-z]+$\")\n    wait: { duration: 1h }",
            "\n  - id: c\n    create_campaign:\n      template: t\n      user: subject",
            "\n      name: \"{{ [ctx.trigger.x].exists(v, v.matches('a{2,1}')) }}\"\n",
        )),
        &[
            "5:9: step `a`: `ctx.trigger.user_id.matches(\"(unclosed\")`: `(unclosed` is not a valid regular expression (error: unclosed group)",
            "14:13: step `c`: `[ctx.trigger.x].exists(v, v.matches('a{2,1}'))`: `a{2,1}` is not a valid regular expression",
        ],
    );
}

#[test]
fn names_resolve_among_the_files_given_and_in_their_folders() {
    // From a repository root: the files are under examples/automations/,
    // and the configured folder (`automations/`) does not exist.
    let k = Keystep::new();
    let examples = keystep_tests::repo().join("examples/automations");
    for file in ["offboarding.yaml", "offboarding-follow-up.yaml"] {
        std::fs::create_dir_all(k.path().join("examples/automations")).unwrap();
        std::fs::copy(
            examples.join(file),
            k.path().join("examples/automations").join(file),
        )
        .unwrap();
    }
    let both = validate(
        &k,
        &[
            "examples/automations/offboarding.yaml",
            "examples/automations/offboarding-follow-up.yaml",
        ],
        0,
    );
    assert_eq!(both["errors"], json!([]), "{both}");
    assert_eq!(both["valid"].as_array().map(Vec::len), Some(2));
    // One file: the other is found in its own folder.
    let one = validate(&k, &["examples/automations/offboarding.yaml"], 0);
    assert_eq!(one["valid"], json!(["offboarding"]), "{one}");
    // A name that is nowhere is still an error.
    std::fs::remove_file(
        k.path()
            .join("examples/automations/offboarding-follow-up.yaml"),
    )
    .unwrap();
    let out = validate(&k, &["examples/automations/offboarding.yaml"], 2);
    let errors = errors_of(&out, "offboarding.yaml");
    assert!(
        errors.len() == 1 && errors[0].contains("no automation named `offboarding-follow-up`"),
        "{errors:?}"
    );
}

#[test]
fn a_connector_action_a_step_names_is_checked_against_the_connectors_info() {
    let k = Keystep::new();
    k.with_plugins(&["tracker", "risk-rust"]);
    let step = |body: &str| {
        format!(
            "name: a\ntrigger: manual\nsteps:\n  - id: s\n    perform_connector_action:\n{body}"
        )
    };
    // A mistyped action, with the closest one named.
    check_in(
        &k,
        &step("      connector: tracker\n      action: lock-acount\n"),
        &["7:15: has no action `lock-acount` (did you mean `lock-account`?)"],
    );
    // Literal arguments that do not fit the action's schema.
    check_in(
        &k,
        &step("      connector: tracker\n      action: lock-account\n      args: { reason: 3 }\n"),
        &["8:13: arguments of `tracker` action `lock-account` do not fit its schema"],
    );
    // Templated arguments: only the name is checked, and it is right.
    k.write(
        "ok.yaml",
        &step(
            "      connector: tracker\n      action: lock-account\n      args: { login: \"{{ ctx.trigger.user.username }}\" }\n",
        ),
    );
    validate(&k, &["ok.yaml"], 0);
    // A grant file that does not parse: said at the step that names it.
    k.write("plugins/risk-rust.toml", "allow_hosts = [\n");
    check_in(
        &k,
        "name: a\ntrigger: manual\nsteps:\n  - id: s\n    call_function: { function: risk-rust }\n",
        &["5:32: risk-rust.toml:1:16: unclosed array"],
    );
}
