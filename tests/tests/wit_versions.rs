//! Two versions of the plugin interface in one host: a function built
//! against `keystep:plugin@0.2.0` (`reports-rust`, which calls the
//! directory's `list-reports`, new in 0.2.0) runs beside functions and a
//! connector built against 0.1.0, in one run, each served through its own
//! bindings; 0.1.0's imports delegate to 0.2.0's.

use keystep_tests::Keystep;
use serde_json::json;

const BOTH: &str = r#"
name: both
trigger: manual
steps:
  - id: reports
    call_function: { function: reports-rust, input: { user_id: "{{ ctx.trigger.user_id }}", depth: 2 } }
  - id: risk
    call_function: { function: risk-rust, input: { user: "{{ ctx.trigger.user }}" } }
"#;

#[test]
fn a_component_of_each_version_runs_in_one_run() {
    let k = Keystep::with_examples();
    k.with_plugins(&["reports-rust", "risk-rust", "tracker"]);
    k.write("automations/both.yaml", BOTH);
    let run = k.json(&["run", "both", "--input", r#"{"user_id": "u-ken"}"#]);
    assert_eq!(run["run"]["state"], "succeeded", "{run}");
    let outputs = &run["run"]["outputs"];
    assert_eq!(
        outputs["reports"],
        json!({"user": "u-ken", "manager": "u-grace", "reports": ["u-ada", "u-alan", "u-barbara", "u-linus"]}),
        "{run}"
    );
    assert!(
        outputs["risk"].is_object(),
        "the 0.1.0 function answered: {run}"
    );

    // Each says which version it was built against, and passes the check.
    for (plugin, version) in [
        ("reports-rust", "0.2.0"),
        ("risk-rust", "0.1.0"),
        ("tracker", "0.1.0"),
    ] {
        let file = format!("plugins/{plugin}.wasm");
        let out = k.json(&["plugins", "check", &file]);
        assert_eq!(out["failed"], 0, "{out}");
        let component = out["checks"][0]["detail"].as_str().unwrap();
        assert!(
            component.contains(&format!("of keystep:plugin@{version}")),
            "{plugin}: {component}"
        );
    }
}

#[test]
fn list_reports_walks_down_and_ends_at_a_cycle() {
    let k = Keystep::with_examples();
    k.with_plugins(&["reports-rust"]);
    rusqlite::Connection::open(k.path().join(".keystep/keystep.db"))
        .unwrap()
        .execute(
            "UPDATE users SET manager_id = 'u-ada' WHERE id = 'u-ken'",
            [],
        )
        .unwrap();
    // u-ken reports to u-ada, who reports to u-ken: the walk meets each once.
    let out = k.json(&[
        "call",
        "reports-rust",
        "--input",
        r#"{"user_id": "u-ada", "depth": 50}"#,
    ]);
    assert_eq!(
        out["reports"],
        json!(["u-ken", "u-alan", "u-barbara", "u-linus"]),
        "{out}"
    );
    let out = k.json(&[
        "call",
        "reports-rust",
        "--input",
        r#"{"user_id": "u-linus"}"#,
    ]);
    assert_eq!(out["reports"], json!([]), "{out}");
}
