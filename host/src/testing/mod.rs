//! `keystep test`: an automation's test cases, run like code's tests.
//!
//! A case (`NAME.test.yaml` beside `NAME.yaml`, [`file`]) starts from a
//! directory fixture in a store of its own, runs the automation on its
//! trigger input with the real engine, and compares what happened with
//! what it expects ([`expect`]). Nothing outside is contacted: effects go
//! to [`scripted::Scripted`], which notes each one, answers a step as the
//! case says (an output or an error) and records the rest; waits pass at
//! once, as in a dry run.

pub mod expect;
pub mod file;
mod scripted;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::automation::catalog::{Catalog, is_test, is_yaml};
use crate::directory::{Directory, DirectoryReads, TaskFilter, import};
use crate::effects::{Functions, Recorder};
use crate::engine::{self, Quiet};
use crate::store::{Keep, Store};
use expect::Observed;
use file::{Case, Fixture, TestFile};

/// What one case came to.
#[derive(Debug, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    /// Each difference from what it expects, or why it could not run.
    pub differences: Vec<String>,
}

/// One test file's cases.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    /// Why the file could not be read or its automation found.
    pub error: Option<String>,
    pub cases: Vec<CaseReport>,
}

/// What a case's run needs from the composition root.
pub struct Setup<'a> {
    pub catalog: Catalog,
    /// An engine on a store, as the program builds one.
    pub engine: &'a dyn Fn(&Store) -> engine::Builder,
    pub runtime: &'a tokio::runtime::Runtime,
}

/// The test files in `paths`: each file named, and under each folder every
/// `*.test.yaml` and every automation file with `tests:`, in order.
pub fn find(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found);
        } else {
            found.push(path.clone());
        }
    }
    found
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() && !name.starts_with('.') {
            walk(&path, found);
        } else if is_test(&path) || (is_yaml(&path) && TestFile::carried_by(&path)) {
            found.push(path);
        }
    }
}

/// Runs every case of the file at `path`.
pub fn run_file(setup: &Setup, path: &Path) -> FileReport {
    let failed = |error: String| FileReport {
        file: path.to_path_buf(),
        error: Some(error),
        cases: Vec::new(),
    };
    let tests = match TestFile::read(path) {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let automation = match (&tests.automation, tests.automation_path(path)) {
        (_, Some(file)) => file.display().to_string(),
        (Some(name), None) => name.clone(),
        (None, None) => {
            return failed(format!(
                "{}: name the automation with `automation:`",
                path.display()
            ));
        }
    };
    let cases = tests
        .cases
        .iter()
        .map(|case| {
            let fixture = case.directory.as_ref().or(tests.directory.as_ref());
            let differences = run_case(setup, path, &automation, case, fixture)
                .unwrap_or_else(|why| vec![format!("could not run: {why}")]);
            CaseReport {
                name: case.name.clone(),
                passed: differences.is_empty(),
                differences,
            }
        })
        .collect();
    FileReport {
        file: path.to_path_buf(),
        error: None,
        cases,
    }
}

/// Runs `case` in a store of its own; its differences from what it expects.
fn run_case(
    setup: &Setup,
    path: &Path,
    automation: &str,
    case: &Case,
    fixture: Option<&Fixture>,
) -> Result<Vec<String>, String> {
    let automation = setup.catalog.find(automation).map_err(|e| e.to_string())?;
    let scratch = Scratch::new()?;
    let store = Store::open(&scratch.0.join("keystep.db")).map_err(|e| format!("{e:#}"))?;
    if let Some(fixture) = fixture {
        load(&store, path, fixture)?;
    }
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (answers, noted) = (case.answers.clone().into_iter().collect(), sent.clone());
    let engine = (setup.engine)(&store)
        .scripted(move |live| {
            Arc::new(scripted::Scripted {
                unanswered: Recorder {
                    live,
                    functions: Functions::Offline,
                    log: Arc::default(),
                },
                answers,
                sent: noted,
            })
        })
        .build();
    let trigger = engine
        .trigger(case.input.clone())
        .map_err(|e| e.to_string())?;
    let starts = automation
        .trigger
        .holds(&trigger, engine.directory())
        .map_err(|e| format!("trigger condition: {e}"))?;
    let mut seen = Observed {
        started: starts,
        ..Observed::default()
    };
    if starts {
        seen.history = run_to_end(setup, &engine, automation, trigger)?;
    }
    seen.sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
    seen.directory = directory_now(&store)?;
    Ok(expect::differences(&case.expect, &seen))
}

/// Starts `automation` on `trigger` and drives it to its end (waits pass
/// at once); its history.
fn run_to_end(
    setup: &Setup,
    engine: &engine::Engine,
    automation: crate::automation::Automation,
    trigger: Json,
) -> Result<Json, String> {
    let id = setup
        .runtime
        .block_on(async {
            let id = engine.start(Arc::new(automation), trigger).await?.id;
            engine.drive(Arc::new(Quiet)).await?;
            anyhow::Ok(id)
        })
        .map_err(|e| format!("{e:#}"))?;
    let (_, history) = crate::history::load(engine.store(), id)
        .map_err(|e| format!("{e:#}"))?
        .ok_or("the run vanished")?;
    Ok(history)
}

/// Imports `fixture` (a file relative to the test file, or inline).
fn load(store: &Store, path: &Path, fixture: &Fixture) -> Result<(), String> {
    let parsed = match fixture {
        Fixture::File(file) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            import::read(&file).map_err(|e| format!("{e:#}"))?
        }
        Fixture::Inline(content) => {
            let shown = format!("{} (inline directory)", path.display());
            import::parse(Path::new("inline.json"), &content.to_string())
                .map_err(|e| format!("{shown}: {}", e.message))?
        }
    };
    store
        .write_sql_blocking(Keep::IfOk, move |conn| {
            import::apply(
                &Directory::new(conn, "test".into()),
                &parsed,
                import::Options::default(),
            )
        })
        .map(drop)
        .map_err(|e| format!("the directory fixture: {e}"))
}

/// The directory as a case's expectations read it: every user, each
/// user's grants (entitlement ids, sorted), every task.
fn directory_now(store: &Store) -> Result<Json, String> {
    let reader = store.reader().map_err(|e| e.to_string())?;
    let dir = Directory::new(&reader, "test".into());
    let read = || -> crate::directory::Result<Json> {
        let mut users = serde_json::Map::new();
        let mut grants = serde_json::Map::new();
        for user in dir.users()? {
            let held: Vec<String> = dir
                .grants_of(&user.id)?
                .into_iter()
                .map(|g| g.entitlement_id)
                .collect();
            grants.insert(user.id.clone(), json!(held));
            users.insert(user.id.clone(), user.to_json());
        }
        let tasks = dir.tasks(&TaskFilter::default())?;
        Ok(json!({"users": users, "grants": grants, "tasks": tasks}))
    };
    read().map_err(|e| e.to_string())
}

/// A case's own folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("keystep-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
