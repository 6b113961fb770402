//! An automation's test cases: a directory fixture and the cases, each with
//! its trigger input, answers for the outside world by step id, and what it
//! expects. They are written in a test file, `NAME.test.yaml` beside
//! `NAME.yaml`, or under `tests:` in the automation file itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;

use crate::automation::catalog::is_test;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The automation under test, by name or file; by default the file
    /// beside this one (`NAME.yaml` for `NAME.test.yaml`).
    pub automation: Option<String>,
    /// The directory every case starts from, unless it has its own.
    pub directory: Option<Fixture>,
    pub cases: Vec<Case>,
}

/// A directory to start from: a directory file (YAML or JSON, relative to
/// the test file), or the same content inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Fixture {
    File(String),
    Inline(Json),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub directory: Option<Fixture>,
    /// The trigger input (`{"user_id": ...}` for a manual run).
    #[serde(default)]
    pub input: Json,
    /// What the outside world answers, by step id.
    #[serde(default)]
    pub answers: BTreeMap<String, Answer>,
    #[serde(default)]
    pub expect: Expect,
}

/// What a step's effect answers instead of being performed.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Output {
        output: Json,
    },
    Error {
        error: String,
        #[serde(default)]
        retryable: bool,
    },
}

/// What a case expects; everything left out is not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `false`: the trigger's `when:` refuses the input, nothing runs.
    pub started: Option<bool>,
    /// The run's state: `succeeded`, `failed`, `cancelled`, `waiting`.
    pub state: Option<String>,
    /// Text the run's error contains.
    pub error: Option<String>,
    /// Each step's last state: `succeeded`, `failed`, `skipped`, or
    /// `not_run`.
    #[serde(default)]
    pub steps: BTreeMap<String, String>,
    /// Each step's output holds at least these values.
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
    /// CEL expressions over `ctx` (the trigger, the run, every step's
    /// output) that must be true once the run ended.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Every effect, in order: each holds at least these values (`kind`:
    /// email, slack, webhook, function, access, create_account, action).
    pub sent: Option<Vec<Json>>,
    /// The automation's `output:` holds at least these values.
    pub output: Option<Json>,
    pub directory: Option<DirectoryExpect>,
}

/// The directory once the run ended.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryExpect {
    /// Each user holds at least these fields.
    #[serde(default)]
    pub users: BTreeMap<String, Json>,
    /// Each user's grants, exactly (entitlement ids, any order).
    #[serde(default)]
    pub grants: BTreeMap<String, Vec<String>>,
    /// Each of these matches a task (at least its fields).
    #[serde(default)]
    pub tasks: Vec<Json>,
}

/// An automation file, for its `tests:` (the rest is the automation's).
#[derive(Deserialize)]
struct Carrier {
    tests: Option<TestFile>,
}

impl TestFile {
    /// Reads the test file at `path`, or the `tests:` of the automation
    /// file at `path`; an error names the file, line and column.
    pub fn read(path: &Path) -> Result<TestFile, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let located = |e: serde_yaml::Error| match e.location() {
            Some(at) => format!("{shown}:{}:{}: {e}", at.line(), at.column()),
            None => format!("{shown}: {e}"),
        };
        if is_test(path) {
            return serde_yaml::from_str(&text).map_err(located);
        }
        let carrier: Carrier = serde_yaml::from_str(&text).map_err(located)?;
        match carrier.tests {
            Some(tests) if tests.automation.is_some() => Err(format!(
                "{shown}: `tests:` in an automation file test that file; `automation:` does not belong there"
            )),
            Some(tests) => Ok(tests),
            None => Err(format!(
                "{shown}: neither a test file (NAME.test.yaml) nor an automation with `tests:`"
            )),
        }
    }

    /// Whether the automation file at `path` carries `tests:` of its own.
    pub fn carried_by(path: &Path) -> bool {
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        serde_yaml::from_str::<serde_yaml::Value>(&text)
            .is_ok_and(|file| file.get("tests").is_some())
    }

    /// The automation file it tests: itself when it is one, else
    /// `automation:` (relative to the test file when it ends in `.yaml`),
    /// else the file beside it.
    pub fn automation_path(&self, path: &Path) -> Option<PathBuf> {
        if !is_test(path) {
            return Some(path.to_path_buf());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        match &self.automation {
            Some(name) if name.ends_with(".yaml") || name.ends_with(".yml") => Some(dir.join(name)),
            Some(_) => None,
            None => {
                let file = path.file_name()?.to_str()?;
                Some(dir.join(file.strip_suffix(".test.yaml")?.to_string() + ".yaml"))
            }
        }
    }
}
