//! A build without the `test-hooks` feature, as `cargo build --release`
//! makes it, ignores `KEYSTEP_TEST_STEP_DELAY_MS`: no step holds its
//! transaction open for whoever sets the environment, and no hook marks
//! stderr. (The end-to-end tests build the binary with the feature; this
//! test fails if the default features ever include it.)

use std::process::Command;

use chrono::DateTime;
use serde_json::Value as Json;

#[test]
fn the_step_delay_variable_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("directory.yaml"),
        "users:\n  - { id: u-ada, display_name: Ada Lovelace }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("automations")).unwrap();
    std::fs::write(
        dir.path().join("automations/flip.yaml"),
        "name: flip\ntrigger: manual\nsteps:\n  - id: off\n    \
         modify_user_status: { user: subject, status: disabled }\n  - id: on\n    \
         modify_user_status: { user: subject, status: active }\n",
    )
    .unwrap();
    let keystep = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keystep"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("KEYSTEP_CONFIG")
            .env("KEYSTEP_TEST_STEP_DELAY_MS", "1000")
            .output()
            .unwrap();
        assert!(out.status.success(), "keystep {args:?}: {out:?}");
        out
    };
    keystep(&["directory", "import", "directory.yaml"]);
    let ran = keystep(&[
        "--json",
        "run",
        "flip",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(!stderr.contains("keystep-test-hook"), "{stderr}");
    let history: Json = serde_json::from_slice(&ran.stdout).unwrap();
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{history}");
    // The hook holds a step for the whole delay between its start and its
    // finish (the stored timestamps); a directory step takes milliseconds.
    for step in steps {
        let at = |key: &str| DateTime::parse_from_rfc3339(step[key].as_str().unwrap()).unwrap();
        let held = at("finished_at") - at("started_at");
        assert!(held.num_milliseconds() < 1000, "held {held}: {step}");
    }
}
