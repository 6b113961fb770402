//! The file outbox: where mail and Slack messages go when no server is
//! configured (the embedded default). One file per message, named by the
//! sending step's key, so a replayed attempt rewrites its own file instead
//! of adding another.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Writes `contents` to `<outbox>/<kind>-<key>.<ext>`; returns the path.
pub fn write(
    outbox: &Path,
    kind: &str,
    key: &str,
    ext: &str,
    contents: &[u8],
) -> Result<PathBuf, Error> {
    let key: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let path = outbox.join(format!("{kind}-{key}.{ext}"));
    crate::files::write_atomically(&path, contents).map_err(|e| {
        Error::transient(format!("cannot write the outbox {}: {e}", path.display()))
    })?;
    Ok(path)
}
