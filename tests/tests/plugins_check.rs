//! `keystep plugins check FILE.wasm`: every example plugin passes the
//! conformance check; broken ones fail it, each with a message that names
//! the problem: not a component, no world's export, a world's export
//! without its functions, an import keystep does not provide, an `info`
//! that loops, an `info` that names another connector, a grant file that
//! does not parse.

use keystep_tests::{Keystep, components};
use serde_json::Value as Json;

const EXAMPLES: &[&str] = &[
    "risk-rust",
    "risk-python",
    "risk-js",
    "decide-rust",
    "decide-js",
    "tracker",
    "scim",
    "hostile",
    "reports-rust",
];

fn check(k: &Keystep, name: &str) -> (i32, Json) {
    let file = format!("plugins/{name}.wasm");
    let ran = k.run(&["--json", "plugins", "check", &file]);
    assert!(ran.code == 0 || ran.code == 1, "{ran:?}");
    (ran.code, ran.json())
}

/// The failed checks, each `check: detail`.
fn failures(out: &Json) -> Vec<String> {
    let checks = out["checks"].as_array().unwrap().iter();
    checks
        .filter(|c| c["passed"] == false)
        .map(|c| {
            format!(
                "{}: {}",
                c["check"].as_str().unwrap(),
                c["detail"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_example_plugin_passes() {
    let k = Keystep::new();
    k.with_plugins(EXAMPLES);
    for name in EXAMPLES {
        let (code, out) = check(&k, name);
        assert_eq!(code, 0, "{name}: {:?}", failures(&out));
        let checks = out["checks"].as_array().unwrap();
        assert!(checks.len() >= 3, "{name}: {out}");
    }
    // Each action of a connector was tried with sample input.
    let (_, tracker) = check(&k, "tracker");
    let tried = tracker.to_string();
    assert!(
        tried.contains(r#"action `lock-account` with {\"login\":\"x\"}"#),
        "{tracker}"
    );
}

#[test]
fn broken_components_fail_with_what_is_wrong() {
    let k = Keystep::new();
    k.with_plugins(&["hostile-connector"]);
    // A core module, not a component.
    k.write("plugins/core.wasm", "\0asm\u{1}\0\0\0");
    let (code, out) = check(&k, "core");
    assert_eq!(code, 1, "{out}");
    let failed = failures(&out);
    assert!(
        failed.len() == 1 && failed[0].starts_with("component: "),
        "{failed:?}"
    );
    assert!(failed[0].contains("core.wasm"), "{failed:?}");

    // An `info` that never answers: stopped at its time limit.
    k.add_plugin("hostile-connector", "looper");
    k.write(
        "plugins/looper.toml",
        "[limits]\ntimeout_ms = 300\n[config]\ninfo_name = \"looper\"\ninfo_loop = true\n",
    );
    let (code, out) = check(&k, "looper");
    assert_eq!(code, 1, "{out}");
    assert!(
        failures(&out)[0].contains("ran past its time limit of 300ms"),
        "{out}"
    );

    // An `info` that names another connector.
    k.add_plugin("hostile-connector", "liar");
    k.write(
        "plugins/liar.toml",
        "[config]\ninfo_name = \"someone-else\"\n",
    );
    let (code, out) = check(&k, "liar");
    assert_eq!(code, 1, "{out}");
    assert!(
        failures(&out)[0].contains("gives the name `someone-else`"),
        "{out}"
    );

    // A grant file that does not parse.
    k.add_plugin("hostile-connector", "broken");
    k.write("plugins/broken.toml", "limits = [\n");
    let (code, out) = check(&k, "broken");
    assert_eq!(code, 1, "{out}");
    assert!(failures(&out)[0].contains("broken.toml"), "{out}");

    // A component that exports neither world's interface.
    let nothing = r#"(component (type $t (record (field "a" u32))) (export "t" (type $t)))"#;
    std::fs::write(
        k.path().join("plugins/nothing.wasm"),
        wat::parse_str(nothing).unwrap(),
    )
    .unwrap();
    let (code, out) = check(&k, "nothing");
    assert_eq!(code, 1, "{out}");
    assert!(
        failures(&out)[0]
            .contains("exports neither `keystep:plugin/connector@0.1.0` (a connector) nor `call`"),
        "{out}"
    );

    // The connector interface's name, with none of its functions.
    std::fs::write(
        k.path().join("plugins/hollow.wasm"),
        components::hollow_connector(),
    )
    .unwrap();
    let (code, out) = check(&k, "hollow");
    assert_eq!(code, 1, "{out}");
    let failed = failures(&out);
    assert!(
        failed[0].starts_with("loads and links: ")
            && failed[0].contains("does not match its world"),
        "{out}"
    );
    assert!(failed[0].contains("info"), "names what is missing: {out}");

    // An import keystep does not provide: named, and nothing is called.
    let teleport = r#"(import "keystep:plugin/teleport@0.1.0" (instance (export "go" (func))))"#;
    std::fs::write(
        k.path().join("plugins/teleporter.wasm"),
        components::echo_function(teleport, 0),
    )
    .unwrap();
    let (code, out) = check(&k, "teleporter");
    assert_eq!(code, 1, "{out}");
    let failed = failures(&out);
    assert!(
        failed[0].starts_with("loads and links: ")
            && failed[0].contains("keystep:plugin/teleport@0.1.0"),
        "{out}"
    );
    // The same component without it passes: the import was the problem.
    std::fs::write(
        k.path().join("plugins/teleporter.wasm"),
        components::echo_function("", 0),
    )
    .unwrap();
    let (code, out) = check(&k, "teleporter");
    assert_eq!(code, 0, "{out}");

    // Not a .wasm file at all: a usage error.
    let ran = k.run(&["plugins", "check", "plugins/broken.toml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
}
