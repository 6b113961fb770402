//! `keystep validate`: every class of error in an automation file is reported
//! with the file, line and column it is at, all of them at once, with exit
//! code 2; valid files pass with exit code 0.

use keystep_tests::Keystep;
use serde_json::Value as Json;

/// One reported error: line, column, message.
type Error = (u64, u64, String);

/// The start of a file whose steps begin on line 4.
const HEAD: &str = "name: t\ntrigger: manual\nsteps:";

/// Runs `keystep --json validate ARGS` and asserts exit code `code`.
fn validate(k: &Keystep, args: &[&str], code: i32) -> Json {
    let mut all = vec!["--json", "validate"];
    all.extend_from_slice(args);
    let ran = k.run(&all);
    assert_eq!(ran.code, code, "keystep {all:?}:\n{}\n{}", ran.stdout, ran.stderr);
    ran.json()
}

/// The errors reported for `file`, in order.
fn errors_of(out: &Json, file: &str) -> Vec<Error> {
    out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["file"].as_str().unwrap().ends_with(file))
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

/// Writes `text` as `auto.yaml` in `k`, validates it (exit 2) and returns its errors.
fn errors_in(k: &Keystep, text: &str) -> Vec<Error> {
    k.write("auto.yaml", text);
    let out = validate(k, &["auto.yaml"], 2);
    assert_eq!(out["files"], 1);
    assert_eq!(out["valid"], serde_json::json!([]));
    errors_of(&out, "auto.yaml")
}

/// The errors of `text` in an empty working directory.
fn errors(text: &str) -> Vec<Error> {
    errors_in(&Keystep::new(), text)
}

/// The only error of `text`.
fn one(text: &str) -> Error {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error: {errs:#?}");
    errs.into_iter().next().unwrap()
}

/// `HEAD` followed by `steps` (which starts with a newline: line 4 is its first).
fn with_steps(steps: &str) -> String {
    format!("{HEAD}{steps}")
}

/// Asserts an error at `line`:`column` whose message contains every needle.
#[track_caller]
fn has(errs: &[Error], line: u64, column: u64, needles: &[&str]) {
    let found = errs.iter().any(|(l, c, m)| *l == line && *c == column && needles.iter().all(|n| m.contains(n)));
    assert!(found, "no error at {line}:{column} containing {needles:?} in {errs:#?}");
}

#[test]
fn yaml_syntax_error() {
    let (line, column, message) = one(&with_steps("\n  - id: x\n    wait: { duration: [1h, 2h }\n"));
    assert_eq!((line, column), (5, 31), "{message}");
    assert!(message.contains("invalid YAML") && message.contains("flow sequence"), "{message}");
}

#[test]
fn top_level_must_be_a_mapping() {
    for text in ["- a\n- b\n", "just text\n"] {
        let (line, column, message) = one(text);
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("expected a mapping at the top level"), "{message}");
    }
}

#[test]
fn top_level_keys() {
    let errs = errors("# an automation\ndescription: d\nnme: t\n");
    assert_eq!(errs.len(), 4, "{errs:#?}");
    has(&errs, 3, 1, &["unknown key `nme` in automation", "(did you mean `name`?)"]);
    // Missing keys are reported where the top-level mapping starts.
    has(&errs, 2, 1, &["missing `name`"]);
    has(&errs, 2, 1, &["missing `trigger`", "trigger: manual"]);
    has(&errs, 2, 1, &["missing `steps`"]);
    has(&errors("name: t\ntrigger: manual\nsteps: []\n"), 3, 8, &["`steps` is empty"]);
}

#[test]
fn triggers() {
    let steps = "\nsteps:\n  - id: x\n    wait: { duration: 1h }\n";
    let e = one(&format!("name: t\ntrigger: user_update{steps}"));
    assert_eq!((e.0, e.1), (2, 10));
    assert!(e.2.contains("unknown trigger `user_update` (did you mean `user_updated`?)"), "{}", e.2);

    let e = one(&format!("name: t\ntrigger:\n  grant_added:\n    ap: aws{steps}"));
    assert_eq!((e.0, e.1), (4, 5));
    assert!(e.2.contains("unknown key `ap` in trigger `grant_added` (did you mean `app`?)"), "{}", e.2);

    // `schedule` needs `cron` however its settings are written.
    for (trigger, at) in [("\n  schedule:\n    timezone: UTC", (3, 3)), ("\n  schedule:", (3, 3)), (" schedule", (2, 10))] {
        let e = one(&format!("name: t\ntrigger:{trigger}{steps}"));
        assert_eq!((e.0, e.1), at, "{trigger:?}");
        assert!(e.2.contains("trigger `schedule` needs `cron`"), "{}", e.2);
    }
}

#[test]
fn unknown_step_type() {
    let e = one(&with_steps("\n  - id: revoke\n    revoke_entitlement:\n      user: subject\n      entitlements: all\n"));
    assert_eq!((e.0, e.1), (5, 5));
    assert!(e.2.contains("unknown step type `revoke_entitlement` (did you mean `revoke_entitlements`?)"), "{}", e.2);
}

#[test]
fn one_step_type_per_step() {
    let errs = errors(&with_steps(
        r#"
  - id: both
    wait: { duration: 1h }
    modify_user_status: { user: subject, status: active }
  - id: none
    retry: { attempts: 2 }
"#,
    ));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    has(&errs, 6, 5, &["a step has one step type; `modify_user_status` is a second one"]);
    has(&errs, 7, 5, &["the step names no step type"]);
}

#[test]
fn unknown_and_missing_fields() {
    let errs = errors(&with_steps("\n  - id: status\n    modify_user_status:\n      usr: subject\n      status: disabled\n"));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    has(&errs, 6, 7, &["modify_user_status: unknown field `usr` (did you mean `user`?)", "expected one of user, status"]);
    // A missing field is reported at the step type's key.
    has(&errs, 5, 5, &["modify_user_status: missing required field `user`"]);
}

#[test]
fn literals_of_the_wrong_shape() {
    let errs = errors(&with_steps(
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
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    has(&errs, 5, 50, &["modify_user_status.status: expected one of active, disabled, inactive"]);
    has(&errs, 7, 23, &["wait.duration: `soon` is not a duration"]);
    has(&errs, 11, 21, &["revoke_entitlements.entitlements: unknown selector key `ap`; expected one of app, resource_type, resource"]);
}

#[test]
fn cel_that_does_not_compile() {
    let campaign = |name: &str| format!("\n  - id: c\n    create_campaign:\n      template: t\n      user: subject\n      name: {name}\n");
    let e = one(&with_steps("\n  - id: a\n    if: ctx.trigger.x == )\n    wait: { duration: 1h }\n"));
    // The column of the `)` in `if:`.
    assert_eq!((e.0, e.1), (5, 26));
    assert!(e.2.contains("`if`: CEL syntax error") && e.2.contains("mismatched input ')'"), "{}", e.2);
    let e = one(&with_steps("\n  - id: a\n    if: \"ctx.trigger.x == )\"\n    wait: { duration: 1h }\n"));
    assert_eq!((e.0, e.1), (5, 27), "past the opening quote");

    // Inside `{{ }}`, the column points into the string: at the `)`, past
    // the quote of a quoted scalar, counting characters, not bytes.
    for (name, column) in [("Hi {{ ctx.trigger.x == ) }}", 36), ("\"Hi {{ ctx.trigger.x == ) }} there\"", 37), ("'é {{ ctx.trigger.x == ) }}'", 36)] {
        let e = one(&with_steps(&campaign(name)));
        assert_eq!((e.0, e.1), (9, column), "{name}");
        assert!(e.2.contains("create_campaign.name: CEL syntax error") && e.2.contains("')'"), "{}", e.2);
    }
    // In a block scalar, on the line of the expression.
    let e = one(&with_steps(&campaign("|\n        Hi {{ ctx.trigger.x == ) }}")));
    assert_eq!((e.0, e.1), (10, 27));

    let e = one(&with_steps(&campaign("\"Hi {{ ctx.trigger.x\"")));
    assert_eq!((e.0, e.1), (9, 17), "at the `{{`");
    assert!(e.2.contains("create_campaign.name") && e.2.contains("`{{` is never closed with `}}`"), "{}", e.2);
}

#[test]
fn references_to_step_outputs() {
    let errs = errors(&with_steps(
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
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    has(&errs, 8, 9, &["step `early`: ctx.later refers to a step that comes later"]);
    has(&errs, 13, 13, &["step `self_ref`: ctx.self_ref is this step's own output"]);
    has(&errs, 15, 58, &["step `unknown`: ctx.frist is not a step id (did you mean `first`?)"]);
}

#[test]
fn step_ids() {
    let errs = errors(&with_steps(
        r#"
  - id: first
    wait: { duration: 1h }
  - id: Notify-IT
    wait: { duration: 1h }
  - wait: { duration: 2h }
    id: first
"#,
    ));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    has(&errs, 6, 9, &["step id `Notify-IT` must be lower_snake_case"]);
    has(&errs, 8, 5, &["duplicate step id `first` (first used at line 4)"]);
}

#[test]
fn retry_on_error_and_timeout() {
    let errs = errors(&with_steps(
        r#"
  - id: pause
    wait: { duration: 1h }
    retry: { attempts: 0, backof: 1s }
    on_error: explode
    timeout: forever
"#,
    ));
    assert_eq!(errs.len(), 4, "{errs:#?}");
    has(&errs, 6, 24, &["`retry.attempts` must be a whole number from 1 to 100"]);
    has(&errs, 6, 27, &["unknown key `backof` in retry (did you mean `backoff`?)"]);
    has(&errs, 7, 15, &["`on_error` must be `fail` or `continue`"]);
    has(&errs, 8, 14, &["`timeout`: `forever` is not a duration"]);
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
    k.write("auto.yaml", DIRECTORY_REFS);
    let out = validate(&k, &["auto.yaml"], 2);
    assert_eq!(out["directory_checked"], true);
    let errs = errors_of(&out, "auto.yaml");
    assert_eq!(errs.len(), 6, "{errs:#?}");
    has(&errs, 5, 33, &["modify_user_status.user: unknown user `u-nobody`"]);
    has(&errs, 9, 21, &["grant_entitlements.entitlements: unknown entitlement `aws:nope`"]);
    has(&errs, 11, 55, &["revoke_entitlements.entitlements: unknown app `awz`"]);
    has(&errs, 13, 55, &["remove_access_profiles.profiles: unknown access profile `engineering-nope`"]);
    has(&errs, 15, 33, &["create_campaign.template: unknown review template `no-such-review`"]);
    has(&errs, 15, 55, &["create_campaign.user: unknown user `u-ghost`"]);

    // With an empty directory, none of this can be checked.
    let k = Keystep::new();
    k.write("auto.yaml", DIRECTORY_REFS);
    let out = validate(&k, &["auto.yaml"], 0);
    assert_eq!(out["directory_checked"], false);
    assert_eq!(out["errors"], serde_json::json!([]));
    assert_eq!(out["valid"], serde_json::json!(["refs"]));
}

#[test]
fn run_automation_targets() {
    let k = Keystep::new();
    let file = |name: &str, trigger: &str, target: &str| {
        let text = format!("name: {name}\ntrigger: {trigger}\nsteps:\n  - id: go\n    run_automation:\n      automation: {target}\n");
        k.write(&format!("automations/{name}.yaml"), &text);
    };
    file("a", "manual", "b");
    file("b", "manual", "a");
    file("hook", "user_created", "a");
    file("calls_nowhere", "manual", "nowhere");
    file("calls_hook", "manual", "hook");
    let out = validate(&k, &[], 2);
    assert_eq!(out["files"], 5);
    has(&errors_of(&out, "/a.yaml"), 6, 19, &["run_automation.automation: run_automation cycle: a → b → a"]);
    has(&errors_of(&out, "/b.yaml"), 6, 19, &["run_automation cycle: b → a → b"]);
    has(&errors_of(&out, "calls_nowhere.yaml"), 6, 19, &["no automation named `nowhere`"]);
    has(&errors_of(&out, "calls_hook.yaml"), 6, 19, &["automation `hook` has trigger `user_created`; run_automation needs one with `trigger: manual`"]);
    // `hook` itself starts `a`, which is manual, and is not on the cycle's way back.
    assert_eq!(out["valid"], serde_json::json!(["hook"]));

    // A target with errors of its own: those are reported against its file.
    k.write("automations/b.yaml", "name: b\ntrigger: manual\nsteps:\n  - id: x\n    wiat: { duration: 1h }\n");
    let out = validate(&k, &["automations/a.yaml", "automations/b.yaml"], 2);
    assert_eq!(errors_of(&out, "/a.yaml"), vec![(6, 19, "run_automation.automation: automation `b` has errors of its own (./automations/b.yaml)".to_string())]);
    has(&errors_of(&out, "/b.yaml"), 5, 5, &["unknown step type `wiat` (did you mean `wait`?)"]);
}

#[test]
fn wait_needs_duration_or_until() {
    let errs = errors(&with_steps(
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
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    has(&errs, 4, 5, &["wait: give exactly one of `duration` (e.g. 7d) or `until` (a timestamp)"]);
    has(&errs, 8, 5, &["wait: give exactly one of `duration`"]);
    has(&errs, 11, 20, &["wait.until: expected an RFC 3339 timestamp"]);
}

#[test]
fn perform_task_action_action() {
    let step = |action: &str| format!("\n  - id: hand_over\n    perform_task_action:\n      user: subject\n      task_types: [grant]\n      action: {action}\n");
    for action in ["explode", "{ reassign: [u-ada] }", "{ reassign: u-ada, also: x }"] {
        let e = one(&with_steps(&step(action)));
        assert_eq!((e.0, e.1), (9, 15), "{action}");
        assert!(e.2.contains("perform_task_action: `action` must be `complete`, `cancel`, or `{ reassign: USER }`"), "{}", e.2);
    }
    let k = Keystep::new();
    for action in ["complete", "cancel", "{ reassign: u-ada }", "\"{{ ctx.trigger.action }}\""] {
        k.write("auto.yaml", &with_steps(&step(action)));
        validate(&k, &["auto.yaml"], 0);
    }
}

#[test]
fn valid_files_pass() {
    let k = Keystep::new();
    k.write("ok.yaml", &with_steps("\n  - id: pause\n    wait: { duration: 7d }\n    retry: { attempts: 3, backoff: 5s }\n    timeout: 1h\n    on_error: continue\n"));
    let out = validate(&k, &["ok.yaml"], 0);
    assert_eq!(out["files"], 1);
    assert_eq!(out["valid"], serde_json::json!(["t"]));
    assert_eq!(out["errors"], serde_json::json!([]));

    // The examples validate clean against the example directory.
    let k = Keystep::with_examples();
    let out = validate(&k, &[], 0);
    assert_eq!(out["files"], 4);
    assert_eq!(out["directory_checked"], true);
    assert_eq!(out["valid"], serde_json::json!(["offboarding-follow-up", "offboarding", "onboarding", "role-change"]));
}

#[test]
fn all_errors_at_once() {
    let k = Keystep::new();
    k.write("good.yaml", &with_steps("\n  - id: pause\n    wait: { duration: 1h }\n"));
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
    assert_eq!(out["files"], 2);
    assert_eq!(out["valid"], serde_json::json!(["t"]));
    let errs = errors_of(&out, "bad.yaml");
    assert_eq!(errs.len(), 6, "{errs:#?}");
    has(&errs, 2, 10, &["unknown trigger `user_update`"]);
    has(&errs, 5, 23, &["`soon` is not a duration"]);
    has(&errs, 7, 5, &["unknown step type `revoke_entitlement`"]);
    has(&errs, 9, 50, &["expected one of active, disabled, inactive"]);
    has(&errs, 9, 59, &["unknown field `colour`"]);
    has(&errs, 8, 5, &["duplicate step id `pause` (first used at line 4)"]);
}

#[test]
fn human_output() {
    let k = Keystep::new();
    k.write("bad.yaml", &with_steps("\n  - id: x\n    wiat: { duration: 1h }\n  - id: y\n    wait: { duration: soon }\n"));
    let ran = k.run(&["validate", "bad.yaml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert!(lines[0].starts_with("bad.yaml:5:5: unknown step type `wiat` (did you mean `wait`?)"), "{}", ran.stderr);
    assert!(lines[1].starts_with("bad.yaml:7:23: wait.duration: `soon` is not a duration"), "{}", ran.stderr);
    assert!(lines[2].starts_with("note: the directory is empty"), "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "1 file(s) checked: 0 valid, 1 with errors (2 error(s))");
}
