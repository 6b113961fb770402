//! Finding plugins: every `*.wasm` in the plugin folders is one. Its world
//! is read from its exports without compiling it, and what was learned is
//! kept in an index keyed by size and modification time, so that a start
//! with nothing changed reads no component at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use wasmparser::{Parser, Payload};

use super::runtime::sha256_file;
use crate::files::write_atomically;

/// The export that makes a component a connector.
pub const CONNECTOR_EXPORT: &str = "keystep:plugin/connector@0.1.0";
/// The export that makes a component a function.
pub const FUNCTION_EXPORT: &str = "call";

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    Connector,
    Function,
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::Connector => "connector",
            World::Function => "function",
        })
    }
}

/// A component file and what its bytes say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Found {
    pub path: PathBuf,
    pub size: u64,
    mtime_ns: u128,
    pub sha256: String,
    /// `None` when the exports match neither world.
    pub world: Option<World>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// A connector's `info` (as JSON) or why it failed, once it has been
    /// asked, per grant file (instances of one component each have
    /// theirs): remembered so that a connector whose `info` hangs costs its
    /// timeout once per component and grant file, not once per command.
    #[serde(default)]
    pub info: Vec<Remembered>,
}

/// A released version of `keystep:plugin`, which decides the bindings
/// that serve a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    V0_1,
    V0_2,
}

impl std::fmt::Display for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interface::V0_1 => "0.1.0",
            Interface::V0_2 => "0.2.0",
        })
    }
}

impl Found {
    /// The version the component was built against: 0.2.0 when it imports
    /// that version's interfaces, else 0.1.0 (connectors, and functions
    /// that import nothing of keystep's).
    pub fn interface(&self) -> Interface {
        let newer = self
            .imports
            .iter()
            .any(|i| i.starts_with("keystep:plugin/") && i.ends_with("@0.2.0"));
        if newer {
            Interface::V0_2
        } else {
            Interface::V0_1
        }
    }
}

/// The most grant files whose `info` outcome is remembered per component.
const MOST_REMEMBERED: usize = 64;

/// The outcome of a connector's `info`, for one grant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    /// [`super::Grants::fingerprint`] of the grants it ran under.
    pub grants: String,
    pub outcome: Result<serde_json::Value, String>,
}

impl Found {
    /// The outcome of `info` under the grant file of `fingerprint`.
    pub fn remembered(&self, fingerprint: &str) -> Option<&Remembered> {
        self.info.iter().find(|r| r.grants == fingerprint)
    }

    /// The file name without `.wasm`: the plugin's name.
    pub fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The index of what has been read, in the cache folder.
pub struct Index {
    path: PathBuf,
    entries: BTreeMap<PathBuf, Found>,
    dirty: bool,
}

/// An index larger than this is not read (it is rebuilt): it can only have
/// grown that big by a fault, and every command would read it.
const INDEX_MAX: u64 = 16 << 20;

impl Index {
    pub fn open(cache: &Path) -> Index {
        let path = cache.join("plugins.json");
        let entries = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() <= INDEX_MAX)
            .and_then(|_| std::fs::read(&path).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Index {
            path,
            entries,
            dirty: false,
        }
    }

    /// Every component in `dirs`, in folder order then name order. A file
    /// that cannot be read is returned as an error beside the others.
    pub fn scan(&mut self, dirs: &[PathBuf]) -> Vec<Result<Found, String>> {
        let mut found = Vec::new();
        for dir in dirs {
            for file in files_in(dir, "wasm") {
                found.push(self.read(&file));
            }
        }
        found
    }

    /// What `file` holds: from the index if its size and time are unchanged.
    fn read(&mut self, file: &Path) -> Result<Found, String> {
        let shown = file.display();
        let meta = std::fs::metadata(file).map_err(|e| format!("{shown}: {e}"))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        if let Some(known) = self.entries.get(file)
            && known.size == meta.len()
            && known.mtime_ns == mtime_ns
        {
            return Ok(known.clone());
        }
        let bytes = std::fs::read(file).map_err(|e| format!("{shown}: {e}"))?;
        let (imports, exports) =
            top_level_names(&bytes).map_err(|e| format!("{shown}: not a component: {e}"))?;
        let world = if exports.iter().any(|e| e == CONNECTOR_EXPORT) {
            Some(World::Connector)
        } else if exports.iter().any(|e| e == FUNCTION_EXPORT) {
            Some(World::Function)
        } else {
            None
        };
        let found = Found {
            path: file.to_path_buf(),
            size: meta.len(),
            mtime_ns,
            sha256: sha256_file(file).map_err(|e| format!("{shown}: {e}"))?,
            world,
            imports,
            exports,
            info: Vec::new(),
        };
        self.entries.insert(file.to_path_buf(), found.clone());
        self.dirty = true;
        Ok(found)
    }

    /// Remembers the outcome of `found`'s `info`, unless the file has since
    /// become another component.
    pub fn set_info(&mut self, found: &Found, info: Remembered) {
        let entry = self
            .entries
            .entry(found.path.clone())
            .or_insert_with(|| found.clone());
        if entry.sha256 == found.sha256 {
            entry.info.retain(|r| r.grants != info.grants);
            if entry.info.len() >= MOST_REMEMBERED {
                entry.info.remove(0);
            }
            entry.info.push(info);
            self.dirty = true;
        }
    }

    /// Writes the index back if it changed; failing only costs speed.
    pub fn save(&mut self) {
        if self.dirty
            && let Ok(bytes) = serde_json::to_vec(&self.entries)
        {
            let _ = write_atomically(&self.path, &bytes);
            self.dirty = false;
        }
    }
}

/// The files of `dir` ending in `.EXTENSION`, in name order (none if it
/// cannot be read).
pub(super) fn files_in(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension) && p.is_file())
        .collect();
    files.sort();
    files
}

/// The component's own imports and exports (not those of nested modules).
fn top_level_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    if !wasmparser::Parser::is_component(bytes) {
        return Err(
            "it is a core module or not WebAssembly; build a component (for \
                    example with cargo's wasm32-wasip2 target, componentize-py or \
                    componentize-js)"
                .into(),
        );
    }
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}
