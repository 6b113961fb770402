//! Small file helpers shared by the modules that read or write files
//! outside the store: atomic writes, and TOML files parsed with the place
//! of an error.

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file. Creates the parent folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Parses a TOML file's text; the error names file, line and column.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start].lines().count().max(1);
                let column = s.start - text[..s.start].rfind('\n').map_or(0, |n| n + 1) + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        format!("{}{at}: {}", path.display(), e.message())
    })
}
