//! The scratch quota: how much a plugin's scratch directory holds, in bytes
//! and entries, against `limits.scratch_mb` and `limits.scratch_files`.
//!
//! WASI gives the host no hook on a write, so the directory is measured: a
//! call does not start while it is over quota; while the plugin's code runs
//! it is measured every [`WATCH_EVERY`], and the call is stopped at the
//! first measure over quota; and a call that leaves it over quota fails.
//! So one call can pass the quota by what it writes in one such interval
//! plus one host call (a write's buffer is held to the memory limit), and
//! it fails; no further call runs until the operator makes room.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use super::grants::Limits;
use super::runtime::ticks;

/// How often a running call's scratch directory is measured.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Sets `store`'s time limit, `deadline` (as the epoch deadline would),
/// and measures `dir` every [`WATCH_EVERY`] while the plugin's code runs,
/// stopping the call when it is over quota.
pub fn watch<T>(store: &mut Store<T>, dir: PathBuf, limits: Limits, deadline: Instant) {
    let every = ticks(WATCH_EVERY);
    store.set_epoch_deadline(every.min(ticks(limits.timeout)));
    store.epoch_deadline_callback(move |_| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(UpdateDeadline::Interrupt);
        }
        if let Err(why) = check(&dir, &limits) {
            return Err(wasmtime::Error::msg(format!(
                "stopped: its scratch directory {why}"
            )));
        }
        Ok(UpdateDeadline::Continue(every.min(ticks(left))))
    });
}

/// What a scratch directory holds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Usage {
    /// The sum of the files' sizes (a sparse file counts at its length).
    pub bytes: u64,
    /// Files, folders and links, the directory itself not counted.
    pub entries: u64,
}

/// Fails, saying by how much, when `dir` holds more than `limits` allow.
/// Measuring stops at the first limit passed, so it costs at most one
/// look at `scratch_files + 1` entries.
pub fn check(dir: &Path, limits: &Limits) -> Result<(), String> {
    let mut usage = Usage::default();
    let over = walk(dir, limits, &mut usage)
        .map_err(|e| format!("cannot be measured ({}): {e}", dir.display()))?;
    if !over {
        return Ok(());
    }
    if usage.entries > limits.scratch_files {
        Err(format!(
            "holds more than {} files and folders, its limit (limits.scratch_files)",
            limits.scratch_files
        ))
    } else {
        Err(format!(
            "holds more than {} bytes, its limit (limits.scratch_mb)",
            limits.scratch_bytes
        ))
    }
}

/// Adds what `dir` holds to `usage`; true as soon as a limit is passed.
/// Links are counted, never followed.
fn walk(dir: &Path, limits: &Limits, usage: &mut Usage) -> std::io::Result<bool> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        usage.entries += 1;
        if meta.is_file() {
            usage.bytes = usage.bytes.saturating_add(meta.len());
        }
        if usage.entries > limits.scratch_files || usage.bytes > limits.scratch_bytes {
            return Ok(true);
        }
        if meta.is_dir() && walk(&entry.path(), limits, usage)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bytes: u64, files: u64) -> Limits {
        Limits {
            scratch_bytes: bytes,
            scratch_files: files,
            ..Limits::default()
        }
    }

    #[test]
    fn files_folders_and_bytes_are_counted_against_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/one"), vec![0u8; 1000]).unwrap();
        std::fs::write(root.join("two"), vec![0u8; 24]).unwrap();
        // a, a/b, a/b/one, two: four entries, 1024 bytes.
        assert_eq!(check(root, &limits(1024, 4)), Ok(()));
        let files = check(root, &limits(1 << 20, 3)).unwrap_err();
        assert!(files.contains("more than 3 files"), "{files}");
        let bytes = check(root, &limits(1023, 100)).unwrap_err();
        assert!(bytes.contains("limits.scratch_mb"), "{bytes}");
        assert_eq!(check(&root.join("absent"), &limits(0, 0)), Ok(()));
    }
}
