//! `keystep directory import FILE`: users, apps with their entitlements,
//! grants, accounts, access profiles with enrollments, delegates and review
//! templates, from YAML or JSON.
//!
//! By default an import merges: it adds and updates, never removes, and a
//! field the file leaves out keeps its value. A snapshot import takes the
//! file as the whole truth for each kind it holds: users it does not list
//! are marked `deleted`, and grants, enrollments and delegations it does not
//! list are removed, each with its event. Importing the same file twice
//! changes nothing the second time.

mod apply;
mod file;
mod json;
mod record;
mod summary;
mod tree;
mod yaml;

use std::path::Path;

pub use apply::{ImportError, Options, apply};
pub use file::DirectoryFile;
pub use summary::{Action, Change, Counts, Kind, Summary};
pub use tree::{Located, MAX_DEPTH, Pos};

/// Reads a directory file; errors carry the file, line and column.
pub fn read(path: &Path) -> anyhow::Result<DirectoryFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    parse(path, &text).map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.pos, e.message))
}

/// Reads a directory file's text: JSON when `path` ends in `.json`, else YAML.
pub fn parse(path: &Path, text: &str) -> Result<DirectoryFile, Located> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(at) = text.find('\0') {
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        return Err(Located::new(
            Pos { line, column },
            "NUL characters are not allowed",
        ));
    }
    let root = if path.extension().is_some_and(|e| e == "json") {
        json::parse(text)?
    } else {
        yaml::parse(text)?
    };
    file::from_tree(&root)
}
