//! Small file helpers shared by the modules that write outside the store.

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
