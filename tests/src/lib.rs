//! Harness for the end-to-end tests: each test gets a fresh working
//! directory and drives the real `keystep` binary in it, as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value as Json;

/// The step ids of a run history's attempts (`runs show --json`), in order.
pub fn step_ids(history: &Json) -> Vec<String> {
    history["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_id"].as_str().unwrap().to_string())
        .collect()
}

/// The steps of `examples/automations/offboarding.yaml`.
pub const OFFBOARDING_STEPS: [&str; 8] = [
    "disable",
    "revoke",
    "profiles",
    "hand_over_reviews",
    "delegates",
    "review",
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

/// The `keystep` binary of this build profile, built once per test process.
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
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "keystep", "--bin", "keystep"])
            .current_dir(repo());
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo build runs");
        assert!(status.success(), "building keystep failed");
        profile_dir.join("keystep")
    })
}

/// A working directory with its own store, and the binary to run in it.
pub struct Keystep {
    dir: tempfile::TempDir,
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
            .env_remove("KEYSTEP_CONFIG");
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
}
