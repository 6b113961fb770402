//! The sandbox against a plugin that misbehaves on purpose (`hostile`):
//! each misbehaviour fails only its own step, with an error that says what
//! happened, while the other runs driven by the same `keystep runs resume`
//! process go on — including a later call of the same plugin.
//!
//! Each scenario copies `hostile.wasm` under its own name, with its own
//! grant file. The last tests cover what a grant opens: a scratch directory
//! and nothing beyond it, and a fuel budget.

use keystep_tests::{Keystep, Ran, Tracker};
use serde_json::{Value as Json, json};

/// What one `runs resume` made of three runs started detached: the hostile
/// call, a good automation, and a harmless call of the same plugin.
struct Outcome {
    hostile: Json,
    good: Json,
    echo: Json,
    resume: Ran,
    k: Keystep,
}

impl Outcome {
    /// The hostile step's attempt.
    fn step(&self) -> &Json {
        let steps = self.hostile["steps"].as_array().unwrap();
        assert_eq!(
            steps.len(),
            1,
            "only the hostile step ran: {}",
            self.hostile
        );
        &steps[0]
    }

    fn error(&self) -> &str {
        self.step()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("the hostile step has no error: {}", self.hostile))
    }

    /// Asserts the hostile run failed at its step with `code` and every
    /// part of `expected` in the error, and that everything else went on.
    fn failed_with(&self, plugin: &str, code: &str, expected: &[&str]) {
        assert_eq!(self.hostile["run"]["state"], "failed", "{}", self.hostile);
        let step = self.step();
        assert_eq!(step["step_id"], "misbehave");
        assert_eq!(step["state"], "failed");
        let error = self.error();
        let prefix = format!("plugin `{plugin}`: {code}: ");
        assert!(
            error.starts_with(&prefix),
            "{error:?} should start with {prefix:?}"
        );
        for part in expected {
            assert!(error.contains(part), "{error:?} should contain {part:?}");
        }
        assert_eq!(
            self.hostile["run"]["error"],
            format!("step `misbehave` failed: {error}")
        );
        assert_eq!(self.status("u-linus"), "active", "`after` never ran");
        self.others_went_on();
    }

    /// The good run and the echo run succeeded in the same process.
    fn others_went_on(&self) {
        assert_eq!(self.resume.code, 0, "{:?}", self.resume);
        assert_eq!(self.good["run"]["state"], "succeeded", "{}", self.good);
        let outputs = &self.good["run"]["outputs"];
        assert_eq!(outputs["score"]["score"], 80);
        assert_eq!(outputs["disable"]["new_status"], "disabled");
        assert_eq!(self.status("u-ada"), "disabled");
        assert_eq!(self.echo["run"]["state"], "succeeded", "{}", self.echo);
        assert_eq!(
            self.echo["run"]["outputs"]["misbehave"],
            json!({"do": "echo"})
        );
        assert_eq!(self.status("u-barbara"), "disabled");
        // The resume process reported each run.
        for (id, name) in [(1, "misbehave"), (2, "good"), (3, "misbehave")] {
            assert!(
                self.resume.stdout.contains(&format!("run {id} ({name})")),
                "{}",
                self.resume.stdout
            );
        }
    }

    fn status(&self, user: &str) -> String {
        self.k.json(&["directory", "show", user])["user"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Installs `hostile.wasm` as `plugin` with `grants`, starts three runs
/// detached — `plugin` called with `args` (about u-linus), a good
/// automation that scores u-ada with risk-rust and disables her, and
/// `plugin` called with `{"do": "echo"}` (about u-barbara) — then drives all
/// three with one `keystep runs resume`.
fn scenario(plugin: &str, grants: &str, args: Json) -> Outcome {
    scenario_with(Keystep::with_examples(), plugin, grants, args)
}

fn scenario_with(k: Keystep, plugin: &str, grants: &str, args: Json) -> Outcome {
    k.with_plugins(&["risk-rust"]);
    k.add_plugin("hostile", plugin);
    k.write(&format!("plugins/{plugin}.toml"), grants);
    k.write(
        "automations/misbehave.yaml",
        &format!(
            r#"
name: misbehave
trigger: manual
steps:
  - id: misbehave
    call_function: {{ function: {plugin}, input: "{{{{ ctx.trigger.args }}}}" }}
  - id: after
    modify_user_status: {{ user: subject, status: disabled }}
"#
        ),
    );
    k.write(
        "automations/good.yaml",
        r#"
name: good
trigger: manual
steps:
  - id: score
    call_function: { function: risk-rust, input: { user_id: "{{ ctx.trigger.user_id }}" } }
  - id: disable
    if: ctx.score.level == "high"
    modify_user_status: { user: subject, status: disabled }
"#,
    );
    let start = |automation: &str, input: Json| {
        let started = k.json(&["run", automation, "--detach", "--input", &input.to_string()]);
        assert_eq!(started["state"], "pending", "{started}");
        started["run_id"].as_i64().unwrap()
    };
    let hostile = start("misbehave", json!({"user_id": "u-linus", "args": args}));
    let good = start("good", json!({"user_id": "u-ada"}));
    let echo = start(
        "misbehave",
        json!({"user_id": "u-barbara", "args": {"do": "echo"}}),
    );
    assert_eq!((hostile, good, echo), (1, 2, 3));
    let resume = k.run(&["runs", "resume"]);
    Outcome {
        hostile: k.show(hostile),
        good: k.show(good),
        echo: k.show(echo),
        resume,
        k,
    }
}

#[test]
fn an_infinite_loop_is_stopped_at_its_time_limit() {
    let o = scenario(
        "hostile-loop",
        "[limits]\ntimeout_ms = 1000\n",
        json!({"do": "loop"}),
    );
    o.failed_with("hostile-loop", "trap", &["ran past its time limit of 1s"]);
    assert!(
        o.step()["duration_ms"].as_u64().unwrap() >= 1000,
        "{}",
        o.step()
    );
}

#[test]
fn a_memory_bomb_is_stopped_at_its_memory_limit() {
    let o = scenario(
        "hostile-memory",
        "[limits]\nmemory_mb = 32\n",
        json!({"do": "memory"}),
    );
    o.failed_with(
        "hostile-memory",
        "trap",
        &["used more than its memory limit of 32 MiB"],
    );
}

#[test]
fn runaway_recursion_exhausts_the_call_stack() {
    let o = scenario("hostile-recurse", "", json!({"do": "recurse"}));
    o.failed_with("hostile-recurse", "trap", &["exhausted its call stack"]);
}

#[test]
fn a_trap_fails_the_step() {
    let o = scenario("hostile-trap", "", json!({"do": "trap"}));
    o.failed_with("hostile-trap", "trap", &["it hit `unreachable`"]);
    assert!(
        !o.error().contains("stderr"),
        "nothing was written: {}",
        o.error()
    );
}

#[test]
fn a_panic_fails_the_step_and_shows_the_panic_message() {
    let o = scenario("hostile-panic", "", json!({"do": "panic"}));
    o.failed_with(
        "hostile-panic",
        "trap",
        &[
            "it hit `unreachable`",
            "its stderr: ",
            "hostile plugin panicked on purpose",
        ],
    );
    assert_eq!(o.step()["retryable"], false);
}

#[test]
fn a_stderr_flood_is_not_an_error_and_a_panic_after_it_still_shows() {
    // 20 KB on stderr is more than the host keeps; it keeps the end.
    let k = Keystep::with_examples();
    k.with_plugins(&["hostile"]);
    let out = k.ok(&["call", "hostile", "--input", r#"{"do": "stderr-flood"}"#]);
    assert_eq!(
        serde_json::from_str::<Json>(&out).unwrap(),
        json!({"written": 200})
    );
    let o = scenario(
        "hostile-stderr",
        "",
        json!({"do": "stderr-flood", "panic": true}),
    );
    o.failed_with(
        "hostile-stderr",
        "trap",
        &["it hit `unreachable`", "the real reason"],
    );
}

#[test]
fn an_oversized_output_is_refused() {
    // Enough memory to build the 64 MiB answer; far too much to hand back.
    let o = scenario(
        "hostile-big",
        "[limits]\nmemory_mb = 512\noutput_kb = 64\n",
        json!({"do": "big-output"}),
    );
    o.failed_with(
        "hostile-big",
        "limit",
        &["its output is 67108866 bytes, over the limit of 65536 bytes"],
    );
    assert!(
        o.error().len() < 200,
        "the output itself is not in the error"
    );
}

#[test]
fn a_log_flood_is_cut_at_the_log_budget_and_the_call_succeeds() {
    let o = scenario(
        "hostile-log",
        "[limits]\nlog_kb = 16\n",
        json!({"do": "log-flood"}),
    );
    assert_eq!(o.hostile["run"]["state"], "succeeded", "{}", o.hostile);
    assert_eq!(
        o.hostile["run"]["outputs"]["misbehave"]["logged"],
        1_000_000
    );
    assert_eq!(o.status("u-linus"), "disabled", "`after` ran");
    o.others_went_on();
    // 16 KiB of 1 KiB lines, each charged as printed (1052 bytes with its
    // tag and line break): 15 lines kept, the rest counted in one line.
    let stderr = &o.resume.stderr;
    let kept = stderr.matches("[plugin hostile-log] info: xxxx").count();
    assert_eq!(kept, 15, "{stderr}");
    assert!(
        stderr.contains(
            "[plugin hostile-log] warn: 999985 log lines dropped: over the log budget of 16 KiB"
        ),
        "{stderr}"
    );
    assert!(stderr.len() < 32 << 10, "{} bytes of stderr", stderr.len());
}

#[test]
fn empty_log_lines_are_charged_too() {
    let o = scenario(
        "hostile-empty",
        "[limits]\nlog_kb = 1\n",
        json!({"do": "log-empty"}),
    );
    assert_eq!(o.hostile["run"]["state"], "succeeded", "{}", o.hostile);
    o.others_went_on();
    // Each empty line costs what it prints: its tag and its line break.
    let line = "[plugin hostile-empty] info: \n";
    let stderr = &o.resume.stderr;
    let kept = 1024 / line.len();
    assert_eq!(stderr.matches(line).count(), kept, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "[plugin hostile-empty] warn: {} log lines dropped",
            1_000_000 - kept
        )),
        "{stderr}"
    );
}

/// No control character, and no line that passes for another plugin's.
fn assert_inert(what: &str, text: &str) {
    assert!(
        !text.contains(['\x1b', '\x07']),
        "{what} holds raw control characters: {text:?}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("[plugin tracker]")),
        "{what} holds a forged line: {text}"
    );
}

#[test]
fn control_characters_from_a_plugin_are_escaped_in_human_output() {
    let o = scenario("hostile-control", "", json!({"do": "control"}));
    let escaped = "done\\n[plugin tracker] error: forged\\u{1b}[2J\\u{7}";
    // The error keeps its lines, each after the first indented.
    let indented = "done\n    [plugin tracker] error: forged\\u{1b}[2J\\u{7}";
    o.failed_with("hostile-control", "failed", &[indented]);
    assert!(
        o.resume
            .stderr
            .contains(&format!("[plugin hostile-control] info: {escaped}")),
        "{}",
        o.resume.stderr
    );
    assert_inert("runs resume's output", &o.resume.stdout);
    assert_inert("the plugin's log", &o.resume.stderr);
    for args in [
        vec!["runs", "show", "1"],
        vec!["runs", "list"],
        vec!["call", "hostile-control", "--input", r#"{"do": "control"}"#],
    ] {
        let ran = o.k.run(&args);
        assert_inert(
            &format!("{args:?}"),
            &format!("{}\n{}", ran.stdout, ran.stderr),
        );
    }
}

/// The scenario with a Tracker running, to send requests to: Tracker
/// records every request under /api, so "nothing was sent" can be checked.
fn network_scenario(tracker: &Tracker, plugin: &str, grants: &str, url: &str) -> Outcome {
    let o = scenario(plugin, grants, json!({"do": "fetch", "url": url}));
    assert_eq!(
        tracker.requests(),
        Vec::<Json>::new(),
        "nothing reached Tracker"
    );
    o
}

#[test]
fn a_request_to_a_host_not_granted_is_denied() {
    let tracker = Tracker::start();
    let url = format!("{}/api/groups", tracker.url());
    // Granted nothing.
    let o = network_scenario(&tracker, "hostile-none", "", &url);
    o.failed_with(
        "hostile-none",
        "denied",
        &[&url, "the plugin is granted no hosts"],
    );
    assert_eq!(o.step()["retryable"], false);
    // Granted another host.
    let o = network_scenario(
        &tracker,
        "hostile-other",
        "allow_hosts = [\"https://api.example.com\"]\n",
        &url,
    );
    o.failed_with(
        "hostile-other",
        "denied",
        &[&format!("{} is not in allow_hosts", tracker.url())],
    );
    // Granted the address, but another port.
    let o = network_scenario(
        &tracker,
        "hostile-port",
        &format!(
            "allow_hosts = [\"http://127.0.0.1:{}\"]\n",
            tracker.port() ^ 1
        ),
        &url,
    );
    o.failed_with("hostile-port", "denied", &["is not in allow_hosts"]);
}

#[test]
fn a_granted_host_name_that_resolves_to_loopback_is_denied() {
    let tracker = Tracker::start();
    let port = tracker.port();
    let url = format!("http://localhost:{port}/api/groups");
    let o = network_scenario(
        &tracker,
        "hostile-name",
        &format!("allow_hosts = [\"http://localhost:{port}\"]\n"),
        &url,
    );
    o.failed_with(
        "hostile-name",
        "denied",
        &["localhost resolves to", "an internal address"],
    );
}

#[test]
fn a_redirect_to_a_host_not_granted_is_refused() {
    let tracker = Tracker::start();
    let port = tracker.port();
    let grants = format!("allow_hosts = [\"{}\"]\n", tracker.url());
    let k = Keystep::with_examples();
    // The grant works: a direct request reaches Tracker (401: no token).
    k.add_plugin("hostile", "hostile-redirect");
    k.write("plugins/hostile-redirect.toml", &grants);
    k.share_plugin_cache();
    let direct = format!("{}/api/groups", tracker.url());
    let answer = k.ok(&[
        "call",
        "hostile-redirect",
        "--input",
        &json!({"do": "fetch", "url": direct}).to_string(),
    ]);
    assert_eq!(
        serde_json::from_str::<Json>(&answer).unwrap()["status"],
        401
    );
    assert_eq!(tracker.requests().len(), 1);

    // Granted 127.0.0.1:PORT, redirected to localhost:PORT: the same server,
    // by a name not granted, so a followed redirect would show in its log.
    // (Redirects to other addresses, against listeners of their own, are in
    // egress.rs and egress_claims.rs.)
    let target = format!("http://localhost:{port}/api/groups");
    let url = format!("{}/redirect?to={target}", tracker.url());
    let o = scenario(
        "hostile-redirect",
        &grants,
        json!({"do": "fetch", "url": url}),
    );
    let origin = target.trim_end_matches("/api/groups");
    o.failed_with(
        "hostile-redirect",
        "denied",
        &[&format!("redirect refused: {origin} is not in allow_hosts")],
    );
    assert_eq!(tracker.requests().len(), 1, "the redirect was not followed");
}

#[test]
fn reading_a_secret_not_granted_is_denied() {
    let k = Keystep::with_examples();
    k.env("HOSTILE_OTHER_SECRET", "twelve chars");
    let o = scenario_with(
        k,
        "hostile-secret",
        "secrets = { other = \"env:HOSTILE_OTHER_SECRET\" }\n",
        json!({"do": "secret", "name": "tracker_token"}),
    );
    o.failed_with(
        "hostile-secret",
        "denied",
        &["secret `tracker_token` is not granted to this plugin"],
    );
    // The granted one is readable (the plugin answers only its length).
    let ran = o.k.run(&[
        "--json",
        "call",
        "hostile-secret",
        "--input",
        r#"{"do": "secret", "name": "other"}"#,
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json(), json!({"length": 12}));
}

#[test]
fn a_request_that_never_gets_an_answer_times_out() {
    let tracker = Tracker::start();
    let url = format!("{}/hang", tracker.url());
    let o = scenario(
        "hostile-hang",
        &format!(
            "allow_hosts = [\"{}\"]\n[limits]\ntimeout_ms = 1000\n",
            tracker.url()
        ),
        json!({"do": "fetch", "url": url}),
    );
    o.failed_with(
        "hostile-hang",
        "unavailable",
        &[&format!("{url}: no answer within ")],
    );
    // A timeout may pass on a later attempt: the error says so.
    assert_eq!(o.step()["retryable"], true, "{}", o.step());
}

#[test]
fn a_scratch_directory_exists_only_when_granted_and_nothing_outside_it_is_reachable() {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", "hostile-fs");
    let fs = |args: &str| k.run(&["--json", "call", "hostile-fs", "--input", args]);

    // Not granted: there is no filesystem at all.
    let ran = fs(r#"{"do": "fs", "write": "hello"}"#);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.json()["code"], "io", "{ran:?}");

    // Granted: a private directory, seen as /scratch, kept between calls.
    k.write("plugins/hostile-fs.toml", "scratch = true\n");
    let note = keystep_tests::shared_plugin_cache().join("scratch/hostile-fs/note.txt");
    let _ = std::fs::remove_file(&note);
    let ran = fs(r#"{"do": "fs", "write": "hello"}"#);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json(), json!({"read": "hello"}));
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "hello");
    assert_eq!(fs(r#"{"do": "fs"}"#).json(), json!({"read": "hello"}));

    // Nothing outside it: not through `..`, not by absolute path.
    for path in [
        "/scratch/../../../../etc/passwd",
        "/etc/passwd",
        "../etc/passwd",
    ] {
        let ran = fs(&json!({"do": "fs", "path": path}).to_string());
        assert_eq!(ran.code, 1, "{path}: {ran:?}");
        assert_eq!(ran.json()["code"], "io", "{path}: {ran:?}");
        assert!(!ran.stdout.contains("root:"), "{path}: {ran:?}");
    }
}

#[test]
fn a_fuel_budget_stops_a_loop() {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", "hostile-fuel");
    k.write("plugins/hostile-fuel.toml", "[limits]\nfuel = 5000000\n");
    let ran = k.run(&["call", "hostile-fuel", "--input", r#"{"do": "loop"}"#]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr
            .contains("trap: ran out of fuel (its budget is 5000000 instructions)"),
        "{ran:?}"
    );
    // Within its budget it works (it runs on the fuel-metering engine).
    let echo = k.ok(&["call", "hostile-fuel", "--input", r#"{"do": "echo"}"#]);
    assert_eq!(
        serde_json::from_str::<Json>(&echo).unwrap(),
        json!({"do": "echo"})
    );
}
