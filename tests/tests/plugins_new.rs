//! `keystep plugins new`: in each language, the function and the connector
//! a user gets build with their own `build.sh`, pass `keystep plugins
//! check`, and answer through `keystep call`, `keystep invoke` and a run
//! (against the project's `mock_app.py`); the project's own `test.sh` (and
//! its unit tests) pass. A Python function that raises shows its traceback
//! in the call's error and in the step's. A non-empty directory and a bad
//! name are refused, and nothing is written.
//!
//! Each project's time from `plugins new` to its first answered call is
//! printed (`--nocapture` shows it). The Rust builds share one target
//! directory, `target/plugins-new/`: the first compiles wit-bindgen, the
//! others reuse it. The tools come from `scripts/test` (rustup's
//! wasm32-wasip2 target and wasm-component-ld, componentize-py 0.25.1,
//! Node.js with npm, clang with wasi-libc); a build that lacks one fails
//! with the build script's message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keystep_tests::{Keystep, keystep_bin, repo};
use serde_json::{Value as Json, json};

/// A generated project in a keystep working directory of its own.
struct Project {
    k: Keystep,
    name: String,
    dir: PathBuf,
    started: Instant,
}

impl Project {
    /// `keystep plugins new NAME --world WORLD --lang LANG` in a fresh
    /// working directory (the clock starts here).
    fn new(name: &str, world: &str, lang: &str) -> Project {
        let k = Keystep::new();
        keystep_bin(); // built before the clock starts
        let started = Instant::now();
        k.ok(&["plugins", "new", name, "--world", world, "--lang", lang]);
        let dir = k.path().join(name);
        Project {
            name: name.to_string(),
            dir,
            k,
            started,
        }
    }

    /// A command in the project's directory, with the shared caches.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", repo().join("target/plugins-new"))
            .env("KEYSTEP", keystep_bin())
            .env("KEYSTEP_TEST_CACHE", self.k.path().join(".keystep/cache"))
            .env_remove("KEYSTEP_CONFIG");
        cmd
    }

    /// Runs `program` in the project and asserts that it succeeds; returns
    /// its standard output.
    fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("{}: cannot run {program}: {e}", self.name);
            });
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "{}: {program} {args:?} failed ({}):\n{stdout}\n{stderr}",
            self.name,
            out.status
        );
        stdout.into_owned()
    }

    /// `./build.sh`, then `NAME.wasm` (and, for a function, its grant file)
    /// copied into the working directory's `plugins/`, and `plugins check`.
    fn build_and_check(&self, grant_file: bool) -> Duration {
        let started = Instant::now();
        self.ok("./build.sh", &[]);
        let took = started.elapsed();
        let plugins = self.k.path().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        let wasm = format!("{}.wasm", self.name);
        std::fs::copy(self.dir.join(&wasm), plugins.join(&wasm)).unwrap();
        if grant_file {
            let toml = format!("{}.toml", self.name);
            std::fs::copy(self.dir.join(&toml), plugins.join(&toml)).unwrap();
        }
        let checked = self
            .k
            .json(&["plugins", "check", &format!("plugins/{wasm}")]);
        assert_eq!(checked["failed"], 0, "{}: {checked}", self.name);
        took
    }

    /// Prints the time from `plugins new` to now, the first answer.
    fn answered(&self, what: &str, build: Duration) {
        eprintln!(
            "plugins new → first {what}: {:5.1} s ({:5.1} s of it ./build.sh)  {}",
            self.started.elapsed().as_secs_f64(),
            build.as_secs_f64(),
            self.name,
        );
    }

    /// The project's own `./test.sh`, against the compiled cache above.
    fn test_sh(&self) {
        let out = self.ok("./test.sh", &[]);
        assert!(
            out.contains(&format!("test.sh: {} works", self.name)),
            "{out}"
        );
    }
}

/// The function template: the first answer, then every decision and an
/// unknown user, then the project's test.sh.
fn function(lang: &str) -> Project {
    let name = format!("{lang}-check");
    let p = Project::new(&name, "function", lang);
    let build = p.build_and_check(true);
    p.k.ok(&["directory", "import", &format!("{name}/directory.yaml")]);
    let ask = |user: &str, entitlement: &str| {
        let input = json!({"user_id": user, "entitlement": entitlement}).to_string();
        p.k.json(&["call", &name, "--input", &input])
    };
    let decision = |user: &str, entitlement: &str, decision: &str, reasons: &[&str]| {
        json!({"user": user, "entitlement": entitlement, "decision": decision,
               "reasons": reasons, "grants": 1})
    };
    assert_eq!(
        ask("u-ada", "github:admin"),
        decision(
            "u-ada",
            "github:admin",
            "review",
            &["github:admin is privileged"]
        )
    );
    p.answered("call", build);
    assert_eq!(
        ask("u-grace", "github:root"),
        decision(
            "u-grace",
            "github:root",
            "review",
            &[
                "github:root is privileged",
                "u-grace has no manager to approve"
            ]
        )
    );
    assert_eq!(
        ask("u-ada", "github:member"),
        decision(
            "u-ada",
            "github:member",
            "approve",
            &["u-ada already holds github:member"]
        )
    );
    assert_eq!(
        ask("u-ada", "github:wiki"),
        decision(
            "u-ada",
            "github:wiki",
            "approve",
            &["github:wiki is not privileged"]
        )
    );
    assert_eq!(
        ask("u-linus", "github:wiki"),
        decision("u-linus", "github:wiki", "deny", &["u-linus is disabled"])
    );
    let input = r#"{"user_id": "u-nobody", "entitlement": "github:wiki"}"#;
    let ran = p.k.run(&["--json", "call", &name, "--input", input]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.json()["code"], "not-found", "{ran:?}");
    let ran =
        p.k.run(&["--json", "call", &name, "--input", r#"{"user_id": 7}"#]);
    assert_eq!(ran.json()["code"], "invalid-argument", "{ran:?}");
    // The log line, tagged with the plugin's name.
    let ran =
        p.k.run(&["call", &name, "--input", &ask_input("u-ada", "github:wiki")]);
    let line = format!("[plugin {name}] info: github:wiki: approve for u-ada");
    assert!(ran.stderr.contains(&line), "{ran:?}");
    p.test_sh();
    p
}

fn ask_input(user: &str, entitlement: &str) -> String {
    json!({"user_id": user, "entitlement": entitlement}).to_string()
}

/// `python3 mock_app.py` from a connector project, on a free port; killed
/// when dropped.
struct MockApp {
    child: Child,
    url: String,
}

impl MockApp {
    fn start(project: &Path) -> MockApp {
        let port_file = project.join(".mock-port");
        let child = Command::new("python3")
            .arg(project.join("mock_app.py"))
            .arg("--port-file")
            .arg(&port_file)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs mock_app.py");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                break port;
            }
            assert!(Instant::now() < deadline, "mock_app.py did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        MockApp {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for MockApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The connector template: both actions through `keystep invoke`, an
/// unknown account, an account created and suspended by a run, then the
/// project's test.sh.
fn connector(lang: &str) -> Project {
    let name = format!("{lang}-app");
    let p = Project::new(&name, "connector", lang);
    let build = p.build_and_check(false);
    let app = MockApp::start(&p.dir);
    let url = &app.url;
    p.k.write(
        &format!("plugins/{name}.toml"),
        &format!(
            "allow_hosts = [\"{url}\"]\nsecrets = {{ api_token = \"env:APP_TOKEN\" }}\n\
             [config]\nbase_url = \"{url}\"\n"
        ),
    );
    p.k.env("APP_TOKEN", "test-token");
    let ada = p.k.json(&[
        "invoke",
        &name,
        "get-account",
        "--args",
        r#"{"account_id": "1"}"#,
    ]);
    assert_eq!(
        ada,
        json!({"id": "1", "login": "ada", "email": "ada@example.com",
               "name": "Ada Lovelace", "status": "active"})
    );
    p.answered("invoke", build);
    let ran = p.k.run(&[
        "--json",
        "invoke",
        &name,
        "get-account",
        "--args",
        r#"{"account_id": "42"}"#,
    ]);
    assert_eq!(
        (ran.code, ran.json()["code"].clone()),
        (1, json!("not-found")),
        "{ran:?}"
    );
    let args = r#"{"account_id": "1", "reason": "left"}"#;
    let suspended =
        p.k.json(&["invoke", &name, "suspend-account", "--args", args]);
    assert_eq!(
        (&suspended["status"], &suspended["suspended_reason"]),
        (&json!("suspended"), &json!("left"))
    );
    // Unknown arguments are refused by the schema, before the plugin.
    let ran =
        p.k.run(&["invoke", &name, "get-account", "--args", r#"{"id": "1"}"#]);
    assert_ne!(ran.code, 0, "{ran:?}");

    // In a run: an account for a directory user, then suspended by the
    // user (the step adds the linked account's id).
    p.k.write(
        "directory.yaml",
        &format!(
            "users:\n  - {{ id: u-alan, display_name: Alan Turing, email: alan@example.com, username: alan }}\n\
             apps:\n  - {{ id: the-app, name: The app, owner: u-alan, connector: {name} }}\n"
        ),
    );
    p.k.ok(&["directory", "import", "directory.yaml"]);
    p.k.write(
        "automations/onboard.yaml",
        &format!(
            r#"
name: onboard
trigger: manual
steps:
  - id: account
    create_account:
      connector: {name}
      method: custom
      user: subject
      fields: {{ login: alan, email: alan@example.com, name: Alan Turing }}
  - id: again
    create_account:
      connector: {name}
      method: custom
      user: subject
      fields: {{ login: alan, email: alan@example.com }}
  - id: suspend
    perform_connector_action:
      connector: {name}
      action: suspend-account
      user: subject
      args: {{ reason: onboarding test }}
"#
        ),
    );
    let (code, history) = p.k.run_json("onboard", r#"{"user_id": "u-alan"}"#);
    assert_eq!(code, 0, "{history}");
    let outputs = &history["run"]["outputs"];
    assert_eq!(outputs["account"]["account_id"], "2", "{history}");
    assert_eq!(outputs["account"]["login"], "alan", "{history}");
    assert_eq!(outputs["account"]["already_existed"], false, "{history}");
    assert_eq!(outputs["again"]["already_existed"], true, "{history}");
    let result = &outputs["suspend"]["result"];
    assert_eq!(result["id"], "2", "{history}");
    assert_eq!(result["status"], "suspended", "{history}");
    assert_eq!(result["suspended_reason"], "onboarding test", "{history}");
    drop(app);
    p.test_sh();
    p
}

#[test]
fn rust_templates_build_and_answer() {
    let f = function("rust");
    // The template's own unit tests, natively.
    f.ok("cargo", &["test", "--quiet"]);
    connector("rust");
}

#[test]
fn python_templates_build_and_answer() {
    let f = function("python");
    f.ok("python3", &["-m", "unittest", "--quiet"]);
    connector("python");
}

#[test]
fn javascript_templates_build_and_answer() {
    let f = function("js");
    f.ok("node", &["--test"]);
    connector("js");
}

#[test]
fn c_templates_build_and_answer() {
    function("c");
    connector("c");
}

/// An exception in a Python function: its traceback is the error of
/// `keystep call` and of the step in a run.
#[test]
fn a_failing_python_function_shows_its_traceback() {
    let p = Project::new("raiser", "function", "python");
    let decide = p.dir.join("decide.py");
    let source = std::fs::read_to_string(&decide).unwrap();
    let raising = r#"    raise RuntimeError(f"no rule for {entitlement}")"#;
    let broken = source.replacen(
        "    slug = entitlement.split",
        &format!("{raising}\n    slug = entitlement.split"),
        1,
    );
    assert_ne!(broken, source, "decide.py changed shape");
    std::fs::write(&decide, broken).unwrap();
    p.build_and_check(true);
    p.k.ok(&["directory", "import", "raiser/directory.yaml"]);
    let input = ask_input("u-ada", "github:admin");
    let ran = p.k.run(&["--json", "call", "raiser", "--input", &input]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json();
    assert_eq!(error["code"], "internal", "{error}");
    assert_traceback(error["error"].as_str().unwrap(), raising.trim());
    // Shown to people, the traceback keeps its lines, indented under the
    // error so that none passes for one of keystep's own.
    let ran = p.k.run(&["call", "raiser", "--input", &input]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr
            .lines()
            .any(|l| l.starts_with("      File ") && l.contains("decide.py")),
        "{}",
        ran.stderr
    );

    p.k.write(
        "automations/decide.yaml",
        r#"
name: decide
trigger: manual
steps:
  - id: check
    call_function:
      function: raiser
      input: { user_id: "{{ ctx.trigger.user_id }}", entitlement: "github:admin" }
"#,
    );
    let (code, history) = p.k.run_json("decide", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let shown = p.k.show(id);
    let step = &shown["steps"][0];
    assert_eq!(step["state"], "failed", "{shown}");
    assert_traceback(step["error"].as_str().unwrap(), raising.trim());
    // The text form shows it too.
    let text = p.k.ok(&["runs", "show", &id.to_string()]);
    assert!(text.contains("Traceback (most recent call last)"), "{text}");
}

fn assert_traceback(error: &str, raising: &str) {
    for needed in [
        "Traceback (most recent call last)",
        "decide.py",
        raising,
        "RuntimeError: no rule for github:admin",
    ] {
        assert!(error.contains(needed), "{needed:?} is not in:\n{error}");
    }
}

#[test]
fn a_non_empty_directory_or_a_bad_name_is_refused_and_nothing_written() {
    let k = Keystep::new();
    k.write("taken/notes.txt", "mine");
    let ran = k.run(&[
        "plugins", "new", "taken", "--world", "function", "--lang", "rust",
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("taken is not empty"), "{ran:?}");
    let left: Vec<_> = std::fs::read_dir(k.path().join("taken")).unwrap().collect();
    assert_eq!(left.len(), 1, "only notes.txt");

    let ran = k.run(&[
        "plugins", "new", "x", "--world", "function", "--lang", "c", "--dir", "taken",
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");

    for bad in ["Access", "access_check", "2fa", "a/b", "x-"] {
        let ran = k.run(&[
            "plugins",
            "new",
            bad,
            "--world",
            "connector",
            "--lang",
            "python",
        ]);
        assert_eq!(ran.code, 2, "{bad}: {ran:?}");
        assert!(
            ran.stderr.contains("is not a plugin name"),
            "{bad}: {ran:?}"
        );
    }
    let ran = k.run(&[
        "plugins", "new", "ok", "--world", "service", "--lang", "rust",
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("possible values: function, connector"),
        "{ran:?}"
    );
    // Nothing but what the test wrote.
    let mut names: Vec<_> = std::fs::read_dir(k.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["taken"]);

    // An empty directory is fine, named by --dir.
    std::fs::create_dir(k.path().join("empty")).unwrap();
    let out: Json = k.json(&[
        "plugins",
        "new",
        "ok",
        "--world",
        "connector",
        "--lang",
        "js",
        "--dir",
        "empty",
    ]);
    assert_eq!(out["dir"], "empty");
    assert!(k.path().join("empty/ok.toml").is_file());
    assert!(k.path().join("empty/wit/worlds.wit").is_file());
}
