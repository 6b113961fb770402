//! The automations `serve` serves, reloaded when their files change: new
//! runs use the new version (runs already started stay pinned to theirs);
//! a file that no longer parses is reported once, and its last good
//! version keeps serving.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::automation::Automation;
use crate::automation::catalog::{Catalog, LoadError, load_file};

/// What a file looked like when it was last read: reread when it changes.
#[derive(Clone, Copy, PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// One file's state.
struct Loaded {
    stamp: Stamp,
    /// Its last version that parsed, if any.
    good: Option<Arc<Automation>>,
    /// Why it does not load as it is now, if it does not.
    problem: Option<String>,
}

/// An automation file as serve sees it (`GET /v1/automations`).
#[derive(Debug, Clone)]
pub struct FileState {
    pub file: PathBuf,
    /// The version served: the file as it is, or its last good version.
    pub serving: Option<Arc<Automation>>,
    /// Why the file as it is now does not load; none when it does.
    pub problem: Option<String>,
}

/// The automations in the catalog's folders, as of the last refresh.
pub struct Automations {
    catalog: Catalog,
    files: BTreeMap<PathBuf, Loaded>,
}

/// What a refresh found.
#[derive(Debug, Default)]
pub struct Refresh {
    /// Files read again (new or changed) that parsed.
    pub loaded: Vec<String>,
    /// Files that changed and do not parse: each said once per change.
    pub problems: Vec<String>,
}

impl Automations {
    pub fn new(catalog: Catalog) -> Automations {
        Automations {
            catalog,
            files: BTreeMap::new(),
        }
    }

    /// Rereads the files that are new or changed and forgets the removed.
    pub fn refresh(&mut self) -> Refresh {
        let mut refresh = Refresh::default();
        let files = self.catalog.files();
        self.files.retain(|path, _| files.contains(path));
        for path in files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = Stamp {
                modified: meta.modified().ok(),
                len: meta.len(),
            };
            if self.files.get(&path).is_some_and(|l| l.stamp == stamp) {
                continue;
            }
            let last_good = self.files.get(&path).and_then(|l| l.good.clone());
            let (good, problem) = match load_file(&path) {
                Ok(automation) => {
                    refresh.loaded.push(automation.name.clone());
                    (Some(Arc::new(automation)), None)
                }
                Err(e) => {
                    refresh
                        .problems
                        .push(problem(&path, &e, last_good.is_some()));
                    (last_good, Some(e.to_string()))
                }
            };
            let loaded = Loaded {
                stamp,
                good,
                problem,
            };
            self.files.insert(path, loaded);
        }
        refresh
    }

    /// Every file, in order, with what it serves and why it does not load.
    pub fn files(&self) -> Vec<FileState> {
        self.files
            .iter()
            .map(|(file, l)| FileState {
                file: file.clone(),
                serving: l.good.clone(),
                problem: l.problem.clone(),
            })
            .collect()
    }

    /// Every automation that parsed, in file order; for a name in two
    /// files, the first.
    pub fn all(&self) -> Vec<Arc<Automation>> {
        let mut seen = std::collections::HashSet::new();
        self.files
            .values()
            .filter_map(|l| l.good.clone())
            .filter(|a| seen.insert(a.name.clone()))
            .collect()
    }
}

fn problem(path: &std::path::Path, e: &LoadError, kept: bool) -> String {
    let keeps = if kept {
        "; its last good version keeps serving"
    } else {
        ""
    };
    format!("{} does not load{keeps}:\n{e}", path.display())
}
