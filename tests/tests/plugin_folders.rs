//! The plugin folders: `plugins list` and `plugins inspect`; a plugin is
//! installed by dropping its file into a folder; broken files are reported
//! without hiding the others; a dry run calls no plugin.

use keystep_tests::{Keystep, Tracker, example_plugin};
use serde_json::{Value as Json, json};

#[test]
fn plugins_list_shows_every_plugin_with_its_world() {
    let k = Keystep::new();
    k.with_plugins(&["hostile", "risk-js", "risk-python", "risk-rust", "tracker"]);
    k.ok(&["call", "risk-rust", "--input", r#"{"user": {"id": "u-x"}}"#]);
    let list = k.json(&["plugins", "list"]);
    let list = list.as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["hostile", "risk-js", "risk-python", "risk-rust", "tracker"]
    );
    for entry in list {
        let name = entry["name"].as_str().unwrap();
        let world = if name == "tracker" {
            "connector"
        } else {
            "function"
        };
        assert_eq!(entry["world"], world, "{entry}");
        assert_eq!(entry["grants"], "none", "nothing is granted by default");
        let file = example_plugin(name);
        assert_eq!(entry["size"], std::fs::metadata(&file).unwrap().len());
        let sha = entry["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{sha}"
        );
        assert!(
            entry["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("plugins/{name}.wasm")),
            "{entry}"
        );
    }
    let tracker = &list[4];
    assert_eq!(tracker["version"], "0.1.0");
    assert_eq!(list[3]["version"], Json::Null, "functions have no version");
    assert_eq!(
        list[3]["cached"], true,
        "risk-rust was compiled by the call"
    );

    // The table shows the same.
    let ran = k.run(&["plugins", "list"]);
    assert_eq!(ran.code, 0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("WORLD"));
    assert_eq!(lines.len(), 6, "{}", ran.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tracker ") && l.contains("connector") && l.contains("0.1.0")),
        "{}",
        ran.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("risk-python ") && l.contains("function")),
        "{}",
        ran.stdout
    );

    // An empty folder says so.
    let empty = Keystep::new();
    let ran = empty.run(&["plugins", "list"]);
    assert_eq!(ran.code, 0);
    assert!(ran.stdout.contains("no plugins in"), "{}", ran.stdout);
    assert_eq!(empty.json(&["plugins", "list"]), json!([]));
}

#[test]
fn plugins_inspect_shows_actions_account_schema_grants_and_imports() {
    let k = Keystep::new();
    k.with_plugins(&["tracker", "risk-rust"]);
    k.write(
        "plugins/tracker.toml",
        r#"
allow_hosts = ["https://tracker.example.com"]
secrets = { tracker_token = "env:SOME_VARIABLE" }
[config]
base_url = "https://tracker.example.com"
[limits]
timeout_ms = 2500
memory_mb = 64
"#,
    );
    let shown = k.json(&["plugins", "inspect", "tracker"]);
    assert_eq!(shown["name"], "tracker");
    assert_eq!(shown["world"], "connector");
    assert_eq!(shown["version"], "0.1.0");

    let info = &shown["info"];
    assert_eq!(info["name"], "tracker");
    assert_eq!(
        info["capabilities"],
        json!(["sync", "provision", "account-provisioning", "actions"])
    );
    let actions: Vec<&str> = info["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["lock-account", "unlock-account"]);
    let lock = &info["actions"][0];
    assert!(!lock["description"].as_str().unwrap().is_empty());
    assert_eq!(lock["arguments"]["type"], "object");
    assert_eq!(lock["arguments"]["required"], json!(["login"]));
    assert_eq!(lock["arguments"]["additionalProperties"], false);
    let schema = &info["account_schema"];
    assert_eq!(schema["required"], json!(["login", "email"]));
    assert_eq!(
        schema["properties"]["login"]["pattern"],
        "^[a-z][a-z0-9.-]*$"
    );

    let grants = &shown["grants"];
    assert_eq!(
        grants["allow_hosts"],
        json!(["https://tracker.example.com"])
    );
    assert_eq!(grants["secrets"], json!(["tracker_token"]), "names only");
    assert!(
        !shown.to_string().contains("SOME_VARIABLE"),
        "where a secret comes from is not shown: {shown}"
    );
    assert_eq!(
        grants["config"],
        json!({"base_url": "https://tracker.example.com"})
    );
    assert_eq!(grants["scratch"], false);
    assert_eq!(grants["limits"]["timeout_ms"], 2500);
    assert_eq!(grants["limits"]["memory_mb"], 64);
    assert_eq!(grants["limits"]["output_kb"], 1024, "a default");
    assert_eq!(grants["limits"]["log_kb"], 64, "a default");
    assert!(
        grants["file"]
            .as_str()
            .unwrap()
            .ends_with("plugins/tracker.toml")
    );

    let imports: Vec<&str> = shown["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.contains(&"keystep:plugin/host@0.1.0"),
        "{imports:?}"
    );
    assert!(
        !imports.contains(&"keystep:plugin/directory@0.1.0"),
        "a connector does not see the directory: {imports:?}"
    );
    assert!(
        !imports
            .iter()
            .any(|i| i.starts_with("wasi:http") || i.starts_with("wasi:sockets")),
        "{imports:?}"
    );
    assert_eq!(shown["exports"], json!(["keystep:plugin/connector@0.1.0"]));

    // A function: the directory import, the `call` export, default limits.
    let risk = k.json(&["plugins", "inspect", "risk-rust"]);
    assert_eq!(risk["world"], "function");
    assert!(risk.get("info").is_none(), "{risk}");
    assert!(
        risk["imports"]
            .as_array()
            .unwrap()
            .contains(&json!("keystep:plugin/directory@0.1.0"))
    );
    assert_eq!(risk["exports"], json!(["call"]));
    assert_eq!(risk["grants"]["file"], Json::Null);
    assert_eq!(risk["grants"]["allow_hosts"], json!([]));
    assert_eq!(
        risk["grants"]["limits"],
        json!({"memory_mb": 128, "timeout_ms": 10000, "fuel": null,
               "input_kb": 1024, "output_kb": 1024, "log_kb": 64})
    );

    // The human form is YAML of the same.
    let text = k.ok(&["plugins", "inspect", "tracker"]);
    assert!(text.contains("lock-account"), "{text}");

    let ran = k.run(&["plugins", "inspect", "nothing"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("no plugin by this name"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_plugin_dropped_into_the_folder_is_used_with_no_other_change() {
    // No keystep.toml at all: the default folders `plugins/` and
    // `.keystep/plugins/` of the working directory.
    let k = Keystep::with_examples();
    std::fs::create_dir_all(k.path().join("plugins")).unwrap();
    let input = r#"{"user_id": "u-ada"}"#;
    let ran = k.run(&["call", "risk-rust", "--input", input]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("plugin `risk-rust`: not-found: no plugin by this name"),
        "{}",
        ran.stderr
    );
    k.write(
        "automations/score.yaml",
        r#"
name: score
trigger: manual
steps:
  - id: score
    call_function: { function: scorer, input: { user_id: "{{ ctx.trigger.user_id }}" } }
"#,
    );
    let ran = k.run(&["--json", "run", "score", "--input", input]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.json()["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no plugin by this name"),
        "{}",
        ran.stdout
    );

    // Drop the file in under a new name: that name is the function's.
    std::fs::copy(
        example_plugin("risk-rust"),
        k.path().join("plugins/scorer.wasm"),
    )
    .unwrap();
    let ran = k.run(&["call", "scorer", "--input", input]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        serde_json::from_str::<Json>(&ran.stdout).unwrap()["score"],
        80
    );
    assert!(
        ran.stderr
            .contains("[plugin scorer] info: scored u-ada: 80"),
        "{}",
        ran.stderr
    );
    let run = k.json(&["run", "score", "--input", input]);
    assert_eq!(run["run"]["state"], "succeeded");
    assert_eq!(run["run"]["outputs"]["score"]["level"], "high");
    assert_eq!(k.run(&["call", "risk-rust", "--input", input]).code, 2);

    // `.keystep/plugins/` is a plugin folder too; the compiled form is
    // cached in `.keystep/cache/compiled/`.
    std::fs::create_dir_all(k.path().join(".keystep/plugins")).unwrap();
    std::fs::copy(
        example_plugin("risk-rust"),
        k.path().join(".keystep/plugins/second-opinion.wasm"),
    )
    .unwrap();
    let second: Json =
        serde_json::from_str(&k.ok(&["call", "second-opinion", "--input", input])).unwrap();
    assert_eq!(second["score"], 80);
    let compiled = std::fs::read_dir(k.path().join(".keystep/cache/compiled"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm")
        })
        .count();
    assert_eq!(compiled, 1, "one component, compiled once for both names");
    let list = k.json(&["plugins", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["scorer", "second-opinion"]);
}

#[test]
fn broken_files_are_reported_without_hiding_the_other_plugins() {
    let k = Keystep::with_examples();
    k.with_plugins(&["risk-rust", "tracker"]);
    k.write("plugins/garbage.wasm", "this is not WebAssembly");
    // A valid core module (magic, version 1), not a component.
    std::fs::write(k.path().join("plugins/core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // A valid, empty component: it exports neither world.
    std::fs::write(k.path().join("plugins/empty.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    // A second connector whose `info` gives the name of the first: a
    // connector's name is its file's, so it is refused.
    k.add_plugin("tracker", "zz-tracker-copy");

    let list = k.json(&["plugins", "list"]);
    let list = list.as_array().unwrap();
    let names: Vec<&str> = list.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["risk-rust", "tracker"]);
    let errors: Vec<&str> = list.iter().filter_map(|e| e["error"].as_str()).collect();
    assert_eq!(errors.len(), 4, "{list:?}");
    let about = |file: &str| {
        *errors
            .iter()
            .find(|e| e.contains(file))
            .unwrap_or_else(|| panic!("no error about {file}: {errors:?}"))
    };
    assert!(about("core.wasm").contains("not a component"));
    assert!(about("core.wasm").contains("core module"));
    assert!(about("garbage.wasm").contains("not a component"));
    assert!(
        about("empty.wasm").contains("exports neither"),
        "{}",
        about("empty.wasm")
    );
    assert!(
        about("zz-tracker-copy.wasm").contains(
            "its `info` gives the name `tracker`, but a connector's name is its component file's name, \
             `zz-tracker-copy`"
        ),
        "{}",
        about("zz-tracker-copy.wasm")
    );

    // The table lists the good ones and warns about the rest.
    let ran = k.run(&["plugins", "list"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("risk-rust") && ran.stdout.contains("tracker"));
    assert_eq!(ran.stderr.matches("warning: ").count(), 4, "{}", ran.stderr);

    // The good plugins still work; the broken ones are not plugins.
    let out: Json =
        serde_json::from_str(&k.ok(&["call", "risk-rust", "--input", r#"{"user_id": "u-ada"}"#]))
            .unwrap();
    assert_eq!(out["score"], 80);
    let inspect = k.json(&["plugins", "inspect", "tracker"]);
    assert_eq!(inspect["info"]["name"], "tracker");
    for broken in ["garbage", "core", "empty"] {
        let ran = k.run(&["call", broken, "--input", "{}"]);
        assert_eq!(ran.code, 2, "{broken}: {ran:?}");
    }
}

#[test]
fn a_dry_run_calls_no_plugin_and_sends_nothing() {
    let tracker = Tracker::start();
    let k = Keystep::with_tracker(&tracker);
    // A hostile function granted the tracker: called, it would send a
    // request Tracker records.
    k.add_plugin("hostile", "hostile-net");
    k.write(
        "plugins/hostile-net.toml",
        &format!("allow_hosts = [\"{}\"]\n", tracker.url()),
    );
    let probe = format!("{}/api/groups", tracker.url());
    k.ok(&[
        "call",
        "hostile-net",
        "--input",
        &json!({"do": "fetch", "url": probe}).to_string(),
    ]);
    assert_eq!(tracker.requests().len(), 1, "the probe reaches Tracker");
    let before = tracker.state();

    k.write(
        "automations/everything.yaml",
        &format!(
            r#"
name: everything
trigger: manual
steps:
  - id: probe
    call_function: {{ function: hostile-net, input: {{ do: fetch, url: "{probe}" }} }}
  - id: spin
    call_function: {{ function: hostile-net, input: {{ do: loop }} }}
  - id: lock
    perform_connector_action:
      connector: tracker
      action: lock-account
      args: {{ login: "{{{{ ctx.trigger.user.username }}}}", reason: offboarding }}
  - id: revoke
    revoke_entitlements: {{ user: subject, entitlements: all }}
  - id: account
    create_account: {{ connector: tracker, method: from_user, user: u-alan }}
"#
        ),
    );
    let grants = k.count("SELECT count(*) FROM grants");
    let events = k.count("SELECT count(*) FROM events");
    let ran = k.run(&[
        "--json",
        "run",
        "everything",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let dry = ran.json();
    assert_eq!(dry["dry_run"], true);
    let outputs = &dry["runs"][0]["run"]["outputs"];
    assert_eq!(dry["runs"][0]["run"]["state"], "succeeded", "{dry}");
    assert_eq!(
        outputs["probe"]["dry_run"],
        "would call function `hostile-net`"
    );
    assert_eq!(outputs["probe"]["input"]["url"], probe);
    assert_eq!(
        outputs["spin"]["dry_run"],
        "would call function `hostile-net`"
    );
    assert_eq!(
        outputs["lock"]["dry_run"],
        "would run `lock-account` on connector `tracker`"
    );
    assert_eq!(
        outputs["lock"]["args"],
        json!({"login": "ada", "reason": "offboarding"})
    );
    let fulfilment = outputs["revoke"]["connector"].as_array().unwrap();
    assert_eq!(fulfilment.len(), 2);
    assert!(fulfilment.iter().all(|f| f["outcome"] == "dry_run"));
    assert_eq!(
        outputs["account"]["fields"],
        json!({"login": "alan", "email": "alan@example.com", "name": "Alan Turing"})
    );

    // Nothing reached Tracker, nothing changed in the store.
    assert_eq!(tracker.state(), before);
    assert!(!ran.stderr.contains("[plugin"), "{}", ran.stderr);
    assert_eq!(k.count("SELECT count(*) FROM grants"), grants);
    assert_eq!(k.count("SELECT count(*) FROM events"), events);
    assert_eq!(k.count("SELECT count(*) FROM accounts"), 0);
    assert_eq!(k.count("SELECT count(*) FROM tasks"), 0);
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);
}
