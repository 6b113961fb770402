//! Harness for the end-to-end tests: each test gets a fresh working
//! directory and drives the real `keystep` binary in it, as a user would.

mod background;
pub mod components;
pub mod crash;
mod scim;
pub mod serve;
mod servers;
mod stub;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use serde_json::Value as Json;

pub use background::{finish, unix_seconds};
pub use scim::{Relay, ScimServer};
pub use servers::*;
pub use stub::Stub;

/// The step ids of a run history's attempts (`runs show --json`), in order.
pub fn step_ids(history: &Json) -> Vec<String> {
    history["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_id"].as_str().unwrap().to_string())
        .collect()
}

/// Each step attempt of a run history, in order, as `{step_id, attempt,
/// state, retryable}` (the error left out: compare it on its own).
pub fn attempts(history: &Json) -> Vec<Json> {
    history["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            serde_json::json!({
                "step_id": s["step_id"],
                "attempt": s["attempt"],
                "state": s["state"],
                "retryable": s["retryable"],
            })
        })
        .collect()
}

/// Seconds from `earlier` to `later`, two timestamps as the store writes
/// them (RFC 3339, milliseconds); SQLite does the date arithmetic, rounded
/// to the millisecond the timestamps carry.
pub fn seconds_between(earlier: &str, later: &str) -> f64 {
    let ms: i64 = rusqlite::Connection::open_in_memory()
        .unwrap()
        .query_row(
            "SELECT CAST(round((julianday(?2) - julianday(?1)) * 86400000.0) AS INTEGER)",
            [earlier, later],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("not timestamps: {earlier:?}, {later:?}: {e}"));
    ms as f64 / 1000.0
}

/// How long a step attempt of a run history took, from its stored start
/// and finish.
pub fn attempt_seconds(step: &Json) -> f64 {
    let at = |key: &str| {
        step[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}: {step}"))
            .to_string()
    };
    seconds_between(&at("started_at"), &at("finished_at"))
}

/// Asserts `low <= seconds < high`: a gap that is the point of a test,
/// with a generous upper bound for a loaded machine.
pub fn assert_between(seconds: f64, low: f64, high: f64, what: &str) {
    assert!(
        (low..high).contains(&seconds),
        "{what}: {seconds:.3} s, expected at least {low} s and under {high} s"
    );
}

/// The steps of `examples/automations/offboarding.yaml`.
pub const OFFBOARDING_STEPS: [&str; 10] = [
    "disable",
    "revoke",
    "profiles",
    "hand_over_reviews",
    "delegates",
    "review",
    "notify_it",
    "announce",
    "grace_period",
    "follow_up",
];

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `keystep` binary of this build profile, built once per test process
/// with the `test-hooks` feature (the crash tests' hook, which release
/// builds leave out) and kept as `target/<profile>/test-hooks/keystep`.
/// `target/<profile>/keystep` itself is built again without the feature,
/// so the binary everyone else runs never has the hook.
pub fn keystep_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test> → target/<profile>/keystep
        let profile_dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let build = |features: &[&str]| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build
                .args(["build", "--quiet", "-p", "keystep", "--bin", "keystep"])
                .args(features)
                .current_dir(repo());
            if release {
                build.arg("--release");
            }
            let status = build.status().expect("cargo build runs");
            assert!(status.success(), "building keystep {features:?} failed");
        };
        build(&["--features", "test-hooks"]);
        // A hard link to the binary cargo just made, put in place by a
        // rename, so that a test running the previous one is not disturbed.
        let dir = profile_dir.join("test-hooks");
        std::fs::create_dir_all(&dir).unwrap();
        let staged = dir.join(format!("keystep.{}", std::process::id()));
        let _ = std::fs::remove_file(&staged);
        std::fs::hard_link(profile_dir.join("keystep"), &staged).unwrap();
        std::fs::rename(&staged, dir.join("keystep")).unwrap();
        // A rename onto another link to the same file does nothing.
        let _ = std::fs::remove_file(&staged);
        build(&[]);
        dir.join("keystep")
    })
}

/// A working directory with its own store, and the binary to run in it.
pub struct Keystep {
    dir: tempfile::TempDir,
    /// Environment variables set for every command.
    env: Mutex<Vec<(String, String)>>,
}

/// A finished command: exit code and output.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Json {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

impl Default for Keystep {
    fn default() -> Self {
        Self::new()
    }
}

impl Keystep {
    /// An empty working directory: no config, no directory, no automations.
    pub fn new() -> Keystep {
        Keystep {
            dir: tempfile::tempdir().unwrap(),
            env: Mutex::default(),
        }
    }

    /// A working directory with the example directory imported and the
    /// example automations in `automations/`.
    pub fn with_examples() -> Keystep {
        let k = Keystep::new();
        let examples = repo().join("examples");
        std::fs::create_dir_all(k.path().join("automations")).unwrap();
        for entry in std::fs::read_dir(examples.join("automations")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(
                entry.path(),
                k.path().join("automations").join(entry.file_name()),
            )
            .unwrap();
        }
        std::fs::copy(
            examples.join("directory.yaml"),
            k.path().join("directory.yaml"),
        )
        .unwrap();
        k.ok(&["directory", "import", "directory.yaml"]);
        k
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file under the working directory.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// A `keystep` command in the working directory, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(keystep_bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("KEYSTEP_CONFIG")
            .env_remove("KEYSTEP_PLUGIN_LOG");
        for (key, value) in self.env.lock().unwrap().iter() {
            cmd.env(key, value);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::from(self.command(args).output().unwrap())
    }

    /// Runs and asserts exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args);
        assert_eq!(
            ran.code, 0,
            "keystep {args:?} failed:\n{}\n{}",
            ran.stdout, ran.stderr
        );
        ran.stdout
    }

    /// Runs with `--json`, asserts exit code 0, returns the parsed output.
    pub fn json(&self, args: &[&str]) -> Json {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let ran = self.run(&all);
        assert_eq!(
            ran.code, 0,
            "keystep {all:?} failed:\n{}\n{}",
            ran.stdout, ran.stderr
        );
        ran.json()
    }

    /// Runs `automation` about `user` until it ends or waits (never
    /// following a wait); returns its `--json` output.
    pub fn start(&self, automation: &str, user: &str) -> Json {
        let input = format!(r#"{{"user_id": "{user}"}}"#);
        self.json(&["run", automation, "--follow", "0s", "--input", &input])
    }

    /// Runs like [`Keystep::run`], but kills the command if it has not
    /// ended within `deadline`: then `None`.
    pub fn run_within(&self, args: &[&str], deadline: std::time::Duration) -> Option<Ran> {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Drain both pipes meanwhile, so a full pipe never stalls the child.
        let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Some(Ran {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        })
    }

    /// Runs `automation` in the foreground with `--json` and `input` (a
    /// JSON object); asserts that it ended (exit 0 or 1) and returns the
    /// exit code and the run's history.
    pub fn run_json(&self, automation: &str, input: &str) -> (i32, Json) {
        let ran = self.run(&["--json", "run", automation, "--input", input]);
        assert!(ran.code == 0 || ran.code == 1, "{ran:?}");
        (ran.code, ran.json())
    }

    /// Opens the store read-only, to check what the CLI does not show.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.path().join(".keystep/keystep.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// One integer from a query on the store.
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Sets an environment variable for every later command.
    pub fn env(&self, key: &str, value: &str) -> &Self {
        self.env
            .lock()
            .unwrap()
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Copies the built example plugins `examples/plugins/NAME.wasm` into
    /// `plugins/`, and writes a `keystep.toml` whose compiled-plugin cache is
    /// shared by every test (compiling the Python and JavaScript components
    /// takes seconds; the cache is safe for concurrent use).
    pub fn with_plugins(&self, names: &[&str]) -> &Self {
        compile_once(names);
        for name in names {
            self.add_plugin(name, name);
        }
        self.share_plugin_cache();
        self
    }

    /// Copies `examples/plugins/NAME.wasm` to `plugins/AS.wasm`.
    pub fn add_plugin(&self, name: &str, as_name: &str) -> PathBuf {
        let to = self.path().join("plugins").join(format!("{as_name}.wasm"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(example_plugin(name), &to).unwrap();
        to
    }

    /// Writes `keystep.toml` pointing the plugin cache at the shared folder.
    pub fn share_plugin_cache(&self) -> &Self {
        self.write(
            "keystep.toml",
            &format!(
                "[plugins]\ncache = {:?}\n",
                shared_plugin_cache().display().to_string()
            ),
        );
        self
    }

    /// A working directory for the tracker connector: [`TRACKER_DIRECTORY`]
    /// imported, `plugins/tracker.wasm` with a grant file for `tracker`
    /// (its address, and the token through `$TRACKER_TOKEN`, set for every
    /// command), and the shared plugin cache.
    pub fn with_tracker(tracker: &Tracker) -> Keystep {
        let k = Keystep::new();
        k.write("directory.yaml", TRACKER_DIRECTORY);
        k.ok(&["directory", "import", "directory.yaml"]);
        k.with_plugins(&["tracker"]);
        k.write("plugins/tracker.toml", &tracker.grants("TRACKER_TOKEN"));
        k.env("TRACKER_TOKEN", TRACKER_TOKEN);
        k
    }

    /// The JSON history of run `id` (`runs show --json`).
    pub fn show(&self, id: i64) -> Json {
        self.json(&["runs", "show", &id.to_string()])
    }
}

/// Runs `cmd` (its output discarded) and answers its exit code and the
/// peak of its resident memory in KiB, as the kernel counted it.
// wait4 reaps the child, which `Child` cannot know.
#[allow(clippy::zombie_processes)]
pub fn peak_memory(mut cmd: Command) -> (i32, i64) {
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 reaps our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss)
}

/// `examples/plugins/NAME.wasm`, which `plugins/build.sh` builds.
pub fn example_plugin(name: &str) -> PathBuf {
    let path = repo().join("examples/plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `bash plugins/build.sh` first",
        path.display()
    );
    path
}

/// Makes sure the example plugins `names` are in the shared cache, one
/// compilation at a time: two tests that both need a cold Python component
/// would otherwise both compile it, at once, on two cores.
fn compile_once(names: &[&str]) {
    static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    let todo: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !done.iter().any(|d| d == n))
        .collect();
    if todo.is_empty() {
        return;
    }
    let scratch = Keystep::new();
    for name in &todo {
        scratch.add_plugin(name, name);
    }
    scratch.share_plugin_cache();
    // Listing compiles connectors (to ask their `info`); a call compiles a
    // function (the empty input may be refused: no matter).
    scratch.run(&["plugins", "list"]);
    for name in &todo {
        scratch.run(&["call", name, "--input", "{}"]);
    }
    done.extend(todo.iter().map(|n| n.to_string()));
}

/// The compiled-plugin cache shared by the tests: `target/plugin-cache-tests`.
pub fn shared_plugin_cache() -> PathBuf {
    // target/<profile>/test-hooks/keystep → target
    let target = keystep_bin().ancestors().nth(3).unwrap();
    target.join("plugin-cache-tests")
}

/// A directory whose `tracker` app is provisioned by the `tracker`
/// connector. Its grants mirror Tracker's groups: ada in admin and
/// developers, grace in developers, linus in viewers; alan has no Tracker
/// account yet.
pub const TRACKER_DIRECTORY: &str = r#"
users:
  - { id: u-owner, display_name: Tracker Owner, email: owner@example.com, username: owner }
  - { id: u-ada, display_name: Ada Lovelace, email: ada@example.com, username: ada, manager: u-owner }
  - { id: u-grace, display_name: Grace Hopper, email: grace@example.com, username: grace, manager: u-owner }
  - { id: u-linus, display_name: Linus Torvalds, email: linus@example.com, username: linus, manager: u-owner }
  - { id: u-alan, display_name: Alan Turing, email: alan@example.com, username: alan, manager: u-owner }
apps:
  - id: tracker
    name: Tracker
    owner: u-owner
    connector: tracker
    entitlements:
      - { slug: admin, name: Admins }
      - { slug: developers, name: Developers }
      - { slug: viewers, name: Viewers }
grants:
  - { user: u-ada, entitlement: tracker:admin }
  - { user: u-ada, entitlement: tracker:developers }
  - { user: u-grace, entitlement: tracker:developers }
  - { user: u-linus, entitlement: tracker:viewers }
"#;

/// The `validate --json` errors for files whose path ends with `file`, in
/// order, as `LINE:COLUMN: message`.
pub fn errors_of(out: &Json, file: &str) -> Vec<String> {
    let errors = out["errors"].as_array().unwrap().iter();
    errors
        .filter(|e| e["file"].as_str().unwrap().ends_with(file))
        .map(|e| {
            format!(
                "{}:{}: {}",
                e["line"],
                e["column"],
                e["message"].as_str().unwrap()
            )
        })
        .collect()
}

/// Asserts that `errs` are exactly `want`, in order: each `LINE:COLUMN: part`
/// is an error at that line and column whose message contains `part`.
#[track_caller]
pub fn expect_errors(errs: &[String], want: &[&str]) {
    let matches = |(got, want): (&String, &&str)| {
        let (at, part) = want.split_once(": ").unwrap();
        got.starts_with(&format!("{at}: ")) && got.contains(part)
    };
    let ok = errs.len() == want.len() && errs.iter().zip(want).all(matches);
    assert!(ok, "expected {want:#?}\ngot {errs:#?}");
}
