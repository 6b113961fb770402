//! What a plugin can reach on the host's filesystem and how much of the
//! host it can use: names that are never paths, a connector that cannot
//! take another's name, compiled artifacts that cannot be swapped, one
//! memory cap over all of a call's memories, bounded strings, a failed
//! `info` asked once, and the scratch quota.
//!
//! The hostile connector (`plugins/hostile-connector`) does what its grant
//! file's `[config]` says. Each test has its own plugin cache (the default
//! `.keystep/cache` of its working directory), so what one test's plugins
//! write is seen by no other.

use std::path::{Path, PathBuf};

use keystep_tests::{Keystep, Ran};
use serde_json::{Value as Json, json};

/// Installs the hostile connector as `name` with the grant file `grants`.
fn connector(k: &Keystep, name: &str, grants: &str) {
    k.add_plugin("hostile-connector", name);
    k.write(&format!("plugins/{name}.toml"), grants);
}

/// Writes automation `name`: one `perform_connector_action` step.
fn action(k: &Keystep, name: &str, connector: &str, action: &str, args: Json) {
    k.write(
        &format!("automations/{name}.yaml"),
        &format!(
            "name: {name}\ntrigger: manual\nsteps:\n  - id: act\n    perform_connector_action: \
             {{ connector: {connector:?}, action: {action}, args: {args} }}\n"
        ),
    );
}

/// Runs automation `name` with `--json`.
fn run(k: &Keystep, name: &str) -> Ran {
    k.run(&["--json", "run", name, "--input", "{}"])
}

fn scratch(k: &Keystep, name: &str) -> PathBuf {
    k.path().join(".keystep/cache/scratch").join(name)
}

/// Every file under `dir` (none if it is absent), with its contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The errors of `plugins list --json`.
fn list_errors(k: &Keystep) -> Vec<String> {
    k.json(&["plugins", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["error"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_file_name_that_is_not_a_plain_word_is_no_plugin_and_reaches_nothing() {
    let k = Keystep::new();
    k.add_plugin("risk-rust", "risk-rust");
    // `...wasm` would be the plugin `..`, whose scratch is the cache itself.
    k.add_plugin("hostile", "..");
    k.write("plugins/...toml", "scratch = true\n");
    k.add_plugin("hostile", "Upper");
    k.ok(&["call", "risk-rust", "--input", r#"{"user": {"id": "u-x"}}"#]);
    let canary = k.write(".keystep/cache/canary.txt", "untouched");
    let cache = snapshot(&k.path().join(".keystep/cache/compiled"));

    for name in ["..", "Upper"] {
        let input = json!({"do": "fs", "path": "/scratch/canary.txt", "write": "pwned"});
        let ran = k.run(&["call", name, "--input", &input.to_string()]);
        assert_eq!(ran.code, 2, "{name}: {ran:?}");
        assert!(
            ran.stderr.contains("is not a valid plugin name"),
            "{name}: {}",
            ran.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
    assert_eq!(snapshot(&k.path().join(".keystep/cache/compiled")), cache);

    let errors = list_errors(&k);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("...wasm: `..` is not a valid plugin name")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("rename the file")));
}

#[test]
fn a_connector_whose_info_names_the_root_gets_no_host_directory() {
    let k = Keystep::new();
    let canary = k.write("canary.txt", "untouched");
    let inside = format!("/scratch{}", canary.display());
    let grants = |info_name: &str| {
        format!(
            "scratch = true\n[config]\ninfo_name = {info_name:?}\nwrites = [{{ path = {inside:?}, text = \"pwned\" }}]\n"
        )
    };
    // Its info says `/`: refused, so it is no connector at all.
    connector(&k, "rootgrab", &grants("/"));
    // A well-behaved copy with the same reach: its `/scratch` is its own.
    connector(&k, "honest", &grants("honest"));
    for (name, who) in [("as-root", "/"), ("as-file", "rootgrab"), ("own", "honest")] {
        action(&k, name, who, "probe", json!({ "path": inside }));
    }

    let errors = list_errors(&k);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("rootgrab.wasm")
            && errors[0].contains("its `info` gives the name `/`")
            && errors[0].contains("a connector's name is its component file's name, `rootgrab`"),
        "{errors:?}"
    );
    let ran = run(&k, "as-root");
    assert_eq!(ran.code, 2, "`/` is no plugin: {ran:?}");
    let ran = run(&k, "as-file");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.json()["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("its `info` gives the name `/`"),
        "{}",
        ran.stdout
    );

    // The honest copy runs; what it writes and reads by the canary's path
    // stays inside its own directory, where that path does not exist: `/`
    // is not mounted.
    let ran = run(&k, "own");
    assert_eq!(ran.code, 0, "{ran:?}");
    let probe = &ran.json()["run"]["outputs"]["act"]["result"];
    assert!(probe.get("read").is_none(), "{probe}");
    assert!(
        probe["error"].as_str().unwrap().contains("No such file"),
        "{probe}"
    );
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
    for name in ["honest", "rootgrab"] {
        assert_eq!(snapshot(&scratch(&k, name)), [], "{name} wrote nothing");
    }
}

#[test]
fn a_connector_cannot_take_another_connectors_name_or_scratch() {
    let k = Keystep::new();
    let grants =
        |mark: &str| format!("scratch = true\n[config]\ninfo_name = \"evil\"\nmark = {mark:?}\n");
    connector(&k, "evil", &grants("real"));
    // Sorted first, it used to win the name `evil` and read evil's scratch.
    connector(&k, "aaa", &grants("impostor"));
    std::fs::create_dir_all(scratch(&k, "evil")).unwrap();
    std::fs::write(scratch(&k, "evil").join("secret.txt"), "evil's own").unwrap();
    action(&k, "probe", "evil", "probe", json!({}));
    action(&k, "probe-aaa", "aaa", "probe", json!({}));

    let ran = run(&k, "probe");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.json()["run"]["outputs"]["act"]["result"],
        json!({"mark": "real", "read": "evil's own"})
    );
    let ran = run(&k, "probe-aaa");
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json()["steps"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("gives the name `evil`"), "{error}");
    assert!(!ran.stdout.contains("evil's own"), "{}", ran.stdout);

    let list = k.json(&["plugins", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["evil"]);
}

#[test]
fn a_tampered_compiled_artifact_is_compiled_again_and_never_run() {
    let k = Keystep::new();
    k.add_plugin("risk-rust", "risk-rust");
    k.add_plugin("hostile", "hostile");
    let input = r#"{"do": "echo", "user": {"id": "u-x"}}"#;
    let honest: Json =
        serde_json::from_str(&k.ok(&["call", "risk-rust", "--input", input])).unwrap();
    assert!(honest.get("score").is_some(), "{honest}");
    k.ok(&["call", "hostile", "--input", input]);

    // Put hostile's compiled code where risk-rust's belongs.
    let compiled = k.path().join(".keystep/cache/compiled");
    let list = k.json(&["plugins", "list"]);
    let artifact = |plugin: &str| {
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == plugin)
            .unwrap();
        let sha = entry["sha256"].as_str().unwrap().to_string();
        std::fs::read_dir(&compiled)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(&sha) && name.ends_with(".cwasm")
            })
            .unwrap_or_else(|| panic!("no artifact for {plugin}"))
    };
    let (risk, hostile) = (artifact("risk-rust"), artifact("hostile"));
    std::fs::copy(&hostile, &risk).unwrap();

    let after: Json =
        serde_json::from_str(&k.ok(&["call", "risk-rust", "--input", input])).unwrap();
    assert_eq!(
        after, honest,
        "risk-rust's own code ran, not hostile's echo"
    );
    assert_ne!(
        std::fs::read(&risk).unwrap(),
        std::fs::read(&hostile).unwrap(),
        "the artifact was written again"
    );
}

#[test]
fn the_memory_cap_holds_for_all_of_a_calls_memories_together() {
    let k = Keystep::new();
    std::fs::create_dir_all(k.path().join("plugins")).unwrap();
    // Fifteen memories of up to 62.5 MiB each: each alone is under 64 MiB.
    std::fs::write(
        k.path().join("plugins/hog.wasm"),
        keystep_tests::components::echo_function("", 14),
    )
    .unwrap();
    k.write("plugins/hog.toml", "[limits]\nmemory_mb = 64\n");
    let ran = k.run(&["--json", "call", "hog", "--input", "{}"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.json()["code"], "trap", "{ran:?}");
    assert!(
        ran.stdout
            .contains("used more than its memory limit of 64 MiB"),
        "{ran:?}"
    );
    // With room for all of them, the same component runs.
    k.write("plugins/hog.toml", "[limits]\nmemory_mb = 1000\n");
    assert_eq!(k.ok(&["call", "hog", "--input", "{}"]).trim(), "{}");
}

/// The store's size on disk: the database and its write-ahead log.
fn store_bytes(k: &Keystep) -> u64 {
    ["keystep.db", "keystep.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(k.path().join(".keystep").join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn strings_from_a_plugin_are_bounded_before_they_are_shown_stored_or_cached() {
    let k = Keystep::new();
    k.write(
        "directory.yaml",
        "apps:\n  - { id: loud, name: Loud, connector: loud }\n",
    );
    k.ok(&["directory", "import", "directory.yaml"]);
    connector(
        &k,
        "loud",
        "[config]\ninfo_name = \"loud\"\nerror_mb = 50\naccount_kb = 20480\n",
    );
    connector(
        &k,
        "verbose",
        "[config]\ninfo_name = \"verbose\"\ninfo_huge_mb = 50\n",
    );
    action(&k, "fail", "loud", "error", json!({}));
    k.write(
        "automations/account.yaml",
        "name: account\ntrigger: manual\nsteps:\n  - id: act\n    create_account: \
         { connector: loud, method: custom, fields: { login: x } }\n",
    );

    // A 50 MiB error message: cut, with a note, on screen and in the store.
    let ran = run(&k, "fail");
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json()["steps"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.len() < 16 << 10, "{} bytes", error.len());
    assert!(
        error.contains("[cut by keystep: the plugin's message was 52428800 bytes"),
        "{}",
        &error[error.len() - 200..]
    );
    let shown = k.run(&["runs", "show", "1"]);
    assert!(shown.stdout.len() + shown.stderr.len() < 64 << 10);

    // A 20 MiB account id and login: refused, nothing stored.
    let ran = run(&k, "account");
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json()["steps"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("the account's id is 20971523 bytes, over the limit of 256"),
        "{}",
        &error[..error.len().min(500)]
    );
    assert_eq!(k.count("SELECT count(*) FROM accounts"), 0);
    assert!(store_bytes(&k) < 4 << 20, "{} bytes", store_bytes(&k));

    // A 50 MiB `info`: refused, and not cached.
    let errors = list_errors(&k);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("info.description is 52428800 bytes, over the limit of 4096"),
        "{errors:?}"
    );
    let index = std::fs::metadata(k.path().join(".keystep/cache/plugins.json")).unwrap();
    assert!(index.len() < 64 << 10, "{} bytes", index.len());
}

#[test]
fn a_failed_info_is_asked_once_and_commands_that_need_none_never_ask() {
    let k = Keystep::new();
    k.add_plugin("hostile", "hostile");
    let grants = |timeout: u32| {
        format!(
            "scratch = true\n[limits]\ntimeout_ms = {timeout}\n[config]\ninfo_name = \"looper\"\ninfo_loop = true\ninfo_count = true\n"
        )
    };
    connector(&k, "looper", &grants(300));
    action(&k, "uses-looper", "looper", "probe", json!({}));
    k.write(
        "automations/unrelated.yaml",
        "name: unrelated\ntrigger: manual\nsteps:\n  - id: echo\n    call_function: \
         { function: hostile, input: { do: echo } }\n",
    );
    let calls = || {
        std::fs::read_to_string(scratch(&k, "looper").join("info-calls"))
            .map_or(0, |t| t.lines().count())
    };

    // Neither validating nor running what does not use it asks its `info`.
    k.ok(&["validate", "automations/unrelated.yaml"]);
    assert_eq!(run(&k, "unrelated").code, 0);
    k.ok(&["call", "hostile", "--input", r#"{"do": "echo"}"#]);
    assert_eq!(calls(), 0);

    // Listing asks once; the failure is remembered.
    let errors = list_errors(&k);
    assert!(
        errors.len() == 1 && errors[0].contains("ran past its time limit of 300ms"),
        "{errors:?}"
    );
    assert_eq!(calls(), 1);
    let again = list_errors(&k);
    assert!(again[0].contains("remembered"), "{again:?}");
    // Validating what names one of its actions asks `info`: remembered,
    // so not again.
    k.ok(&["validate", "automations"]);
    assert_eq!(calls(), 1);
    let ran = k.run(&["plugins", "inspect", "looper"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let ran = run(&k, "uses-looper");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.json()["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("ran past its time limit"),
        "{}",
        ran.stdout
    );
    assert_eq!(calls(), 1, "asked once in all");

    // A new grant file is asked again.
    k.write("plugins/looper.toml", &grants(400));
    assert!(list_errors(&k)[0].contains("400ms"));
    assert_eq!(calls(), 2);
}

#[test]
fn the_scratch_quota_fails_the_call_that_passes_it_and_refuses_the_next() {
    let k = Keystep::new();
    connector(
        &k,
        "filler",
        "scratch = true\n[limits]\nscratch_files = 50\nscratch_mb = 1\n[config]\ninfo_name = \"filler\"\n\
         writes = [{ path = \"/scratch/last-call\", text = \"ran\" }]\n",
    );
    action(&k, "many", "filler", "fill", json!({"files": 100, "kb": 1}));
    action(&k, "big", "filler", "fill", json!({"files": 3, "kb": 600}));
    action(
        &k,
        "probe",
        "filler",
        "probe",
        json!({"path": "/scratch/last-call"}),
    );
    let dir = scratch(&k, "filler");
    let files = || std::fs::read_dir(dir.join("fill")).map_or(0, |d| d.count());

    // Within quota: fine.
    let ran = run(&k, "probe");
    assert_eq!(ran.code, 0, "{ran:?}");
    // 100 files against a quota of 50: the call fails...
    let ran = run(&k, "many");
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json()["steps"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("limit: its scratch directory holds more than 50 files and folders")
            && error.contains("; the call that did this fails"),
        "{error}"
    );
    // Over the quota: all 100, or fewer if the watch (every 100 ms) caught
    // the call while it still wrote on a busy machine.
    let written = files();
    assert!((51..=100).contains(&written), "{written} files");
    // ...and the next does not start: it would have written `last-call`.
    std::fs::remove_file(dir.join("last-call")).unwrap();
    let ran = run(&k, "many");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout
            .contains("no call is made until room is made in it"),
        "{}",
        ran.stdout
    );
    assert!(
        !dir.join("last-call").exists(),
        "the refused call never ran"
    );
    assert_eq!(files(), written, "nothing more was written");

    // Room made: calls run again; bytes count as well as files.
    std::fs::remove_dir_all(dir.join("fill")).unwrap();
    assert_eq!(run(&k, "probe").code, 0);
    assert!(dir.join("last-call").exists());
    let ran = run(&k, "big");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout
            .contains("holds more than 1048576 bytes, its limit (limits.scratch_mb)"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_call_is_stopped_while_it_writes_past_the_scratch_quota() {
    let k = Keystep::new();
    // Time enough to write every file, were it not stopped.
    connector(
        &k,
        "flooder",
        "scratch = true\n[limits]\nscratch_files = 50\ntimeout_ms = 120000\n[config]\ninfo_name = \"flooder\"\n",
    );
    action(
        &k,
        "flood",
        "flooder",
        "fill",
        json!({"files": 20000, "kb": 0}),
    );
    let ran = run(&k, "flood");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout
            .contains("its scratch directory holds more than 50 files and folders"),
        "{}",
        ran.stdout
    );
    let written = std::fs::read_dir(scratch(&k, "flooder").join("fill"))
        .unwrap()
        .count();
    assert!(
        written < 20000,
        "stopped during the call, after {written} files"
    );
}
