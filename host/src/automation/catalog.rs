//! Finding automations: by path, or by name in the configured folders.

use std::path::{Path, PathBuf};

use super::{Automation, Diagnostic, parse};

/// The automation folders, searched in order, and single files besides.
#[derive(Debug, Clone)]
pub struct Catalog {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

/// Why an automation could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    NotFound(String),
    Unreadable(PathBuf, std::io::Error),
    Invalid(Vec<Diagnostic>),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotFound(what) => write!(f, "no automation named `{what}`"),
            LoadError::Unreadable(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            LoadError::Invalid(diags) => {
                let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                write!(f, "{}", lines.join("\n"))
            }
        }
    }
}

impl Catalog {
    pub fn new(dirs: Vec<PathBuf>) -> Catalog {
        Catalog {
            dirs,
            files: Vec::new(),
        }
    }

    /// Also finds automations among `files` and in each one's own folder
    /// (after the folders already searched): `validate` checks the files it
    /// is given against each other.
    pub fn with_files(mut self, files: &[PathBuf]) -> Catalog {
        for file in files {
            let folder = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !self.dirs.contains(&folder) {
                self.dirs.push(folder);
            }
            if !self.files.contains(file) {
                self.files.push(file.clone());
            }
        }
        self
    }

    /// Every `*.yaml` / `*.yml` file in the folders but test files
    /// (`*.test.yaml`, read by `keystep test`), and the single files,
    /// sorted by path.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_yaml(p) && !is_test(p))
            .chain(self.files.iter().cloned())
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// Loads an automation given as a path or as a name: `NAME.yaml` in a
    /// folder, else the file whose `name:` is NAME.
    pub fn find(&self, name_or_path: &str) -> Result<Automation, LoadError> {
        let as_path = Path::new(name_or_path);
        if is_yaml(as_path) || as_path.components().count() > 1 {
            return load_file(as_path);
        }
        for dir in &self.dirs {
            for ext in ["yaml", "yml"] {
                let candidate = dir.join(format!("{name_or_path}.{ext}"));
                if candidate.is_file() {
                    let automation = load_file(&candidate)?;
                    if automation.name == name_or_path {
                        return Ok(automation);
                    }
                }
            }
        }
        for file in self.files() {
            if let Ok(automation) = load_file(&file)
                && automation.name == name_or_path
            {
                return Ok(automation);
            }
        }
        Err(LoadError::NotFound(name_or_path.to_string()))
    }
}

/// Reads and parses one file.
pub fn load_file(path: &Path) -> Result<Automation, LoadError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| LoadError::Unreadable(path.to_path_buf(), e))?;
    parse(path, &text).map_err(LoadError::Invalid)
}

/// An automation's test file, `NAME.test.yaml`.
pub fn is_test(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

pub fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}
