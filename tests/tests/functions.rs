//! Function plugins through the real binary: the three risk functions
//! (Rust, Python, JavaScript) agree through `keystep call` and through a
//! `call_function` step, fail alike, and are checked by `validate`.

use keystep_tests::Keystep;
use serde_json::{Value as Json, json};

const RISK: [&str; 3] = ["risk-rust", "risk-python", "risk-js"];

/// A user given inline, with grants that exercise every rule of the scorer
/// (and non-ASCII text, which each language's JSON library must keep).
const INLINE: &str = r#"{
  "user": {"id": "u-zoë", "display_name": "Zoë", "status": "disabled"},
  "grants": [
    {"entitlement": "aws:root-admin", "slug": "root-admin"},
    {"entitlement": "billing:billing", "slug": "billing"},
    {"entitlement": "wiki:lecteur-ünïcode", "slug": "lecteur-ünïcode"}
  ]
}"#;

#[test]
fn the_three_risk_functions_give_identical_output_through_call_and_call_function() {
    let k = Keystep::with_examples();
    k.with_plugins(&RISK);

    // Through `keystep call`: byte-for-byte the same JSON.
    let mut outputs = Vec::new();
    for f in RISK {
        let ran = k.run(&["call", f, "--input", r#"{"user_id": "u-ada"}"#]);
        assert_eq!(ran.code, 0, "{f}: {ran:?}");
        assert!(
            ran.stderr
                .contains(&format!("[plugin {f}] info: scored u-ada: 80")),
            "{f}'s log line goes to stderr, tagged: {}",
            ran.stderr
        );
        outputs.push(ran.stdout);
    }
    assert_eq!(outputs[0], outputs[1], "rust and python differ");
    assert_eq!(outputs[0], outputs[2], "rust and javascript differ");
    let ada: Json = serde_json::from_str(&outputs[0]).unwrap();
    assert_eq!(ada["user"], "u-ada");
    assert_eq!(ada["score"], 80);
    assert_eq!(ada["level"], "high");
    assert_eq!(ada["grants"], 8);
    assert_eq!(ada["scored"].as_array().unwrap().len(), 8);

    // Inline input, no directory: 30 + 10 + 2, +25 disabled with grants,
    // +5 without a manager.
    let mut inline = Vec::new();
    for f in RISK {
        inline.push(k.ok(&["call", f, "--input", INLINE]));
    }
    assert_eq!(inline[0], inline[1], "rust and python differ");
    assert_eq!(inline[0], inline[2], "rust and javascript differ");
    let zoe: Json = serde_json::from_str(&inline[0]).unwrap();
    assert_eq!(
        (zoe["score"].clone(), zoe["level"].clone()),
        (json!(72), json!("high"))
    );
    assert_eq!(zoe["user"], "u-zoë");
    assert_eq!(zoe["scored"][2]["entitlement"], "wiki:lecteur-ünïcode");

    // Through `call_function` steps in one run: the same output again, as
    // the steps' outputs, readable by later steps.
    k.write(
        "automations/score.yaml",
        r#"
name: score
trigger: manual
steps:
  - id: rust
    call_function: { function: risk-rust, input: { user_id: "{{ ctx.trigger.user_id }}" } }
  - id: python
    call_function: { function: risk-python, input: { user_id: "{{ ctx.trigger.user_id }}" } }
  - id: js
    call_function: { function: risk-js, input: { user_id: "{{ ctx.trigger.user_id }}" } }
  - id: disable
    if: ctx.rust.level == "high" && ctx.python.score == ctx.js.score
    modify_user_status: { user: subject, status: disabled }
"#,
    );
    let run = k.json(&["run", "score", "--input", r#"{"user_id": "u-ada"}"#]);
    assert_eq!(run["run"]["state"], "succeeded", "{run}");
    for step in ["rust", "python", "js"] {
        assert_eq!(run["run"]["outputs"][step], ada, "step {step}");
    }
    assert_eq!(run["run"]["outputs"]["disable"]["new_status"], "disabled");
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "disabled"
    );
}

#[test]
fn an_unknown_user_is_a_non_retryable_not_found_error_in_every_language() {
    let k = Keystep::with_examples();
    k.with_plugins(&RISK);
    for f in RISK {
        let input = r#"{"user_id": "u-nobody"}"#;
        let ran = k.run(&["--json", "call", f, "--input", input]);
        assert_eq!(ran.code, 1, "{f}: {ran:?}");
        let error = ran.json();
        assert_eq!(error["code"], "not-found", "{f}: {error}");
        assert_eq!(error["retryable"], false, "{f}: {error}");
        assert_eq!(
            error["error"],
            format!("plugin `{f}`: not-found: no user u-nobody")
        );
        let ran = k.run(&["call", f, "--input", input]);
        assert_eq!(ran.code, 1);
        assert!(
            ran.stderr
                .contains(&format!("error: plugin `{f}`: not-found: no user u-nobody")),
            "{f}: {}",
            ran.stderr
        );
        assert!(ran.stdout.is_empty(), "{f}: {}", ran.stdout);
    }

    // In a run, the step fails, not retried (the error is not retryable),
    // and the run fails with exit 1.
    k.write(
        "automations/score.yaml",
        r#"
name: score
trigger: manual
steps:
  - id: score
    call_function: { function: "{{ ctx.trigger.function }}", input: { user_id: u-nobody } }
    retry: { attempts: 3, backoff: 1s }
"#,
    );
    for f in RISK {
        let input = json!({ "function": f }).to_string();
        let ran = k.run(&["--json", "run", "score", "--input", &input]);
        assert_eq!(ran.code, 1, "{ran:?}");
        let history = ran.json();
        let steps = history["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "not retried: {history}");
        assert_eq!(steps[0]["state"], "failed");
        assert_eq!(steps[0]["retryable"], false);
        assert_eq!(
            steps[0]["error"],
            format!("plugin `{f}`: not-found: no user u-nobody")
        );
        assert_eq!(history["run"]["state"], "failed");
    }
}

#[test]
fn an_unknown_function_is_a_usage_error() {
    let k = Keystep::with_examples();
    k.with_plugins(&["risk-rust", "tracker"]);
    let ran = k.run(&["call", "risk-ruby", "--input", "{}"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("plugin `risk-ruby`: not-found: no plugin by this name"),
        "{}",
        ran.stderr
    );
    // A connector is not a function.
    let ran = k.run(&["call", "tracker", "--input", "{}"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("is a connector, not a function")
            && ran.stderr.contains("keystep invoke tracker ACTION"),
        "{}",
        ran.stderr
    );
    let ran = k.run(&["call", "risk-rust", "--input", "{not json"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("--input is not valid JSON"),
        "{}",
        ran.stderr
    );
}

#[test]
fn validate_checks_plugin_names_against_the_plugin_folders() {
    let k = Keystep::new();
    k.write(
        "automations/uses.yaml",
        "name: uses\ntrigger: manual\nsteps:\n  - id: a\n    call_function: { function: risk-rsut }\n  - id: b\n    perform_connector_action: { connector: risk-rust, action: x }\n  - id: c\n    call_function: { function: \"{{ ctx.trigger.f }}\" }\n",
    );
    // With no plugins at all, names are not checked (as with an empty directory).
    k.ok(&["validate"]);
    k.with_plugins(&["risk-rust"]);
    let ran = k.run(&["validate"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains(
            "uses.yaml:5:32: call_function.function: no function plugin `risk-rsut` (did you mean `risk-rust`?)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "uses.yaml:7:44: perform_connector_action.connector: plugin `risk-rust` is not a connector"
        ),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.contains("(2 error(s))"), "{}", ran.stdout);
}
