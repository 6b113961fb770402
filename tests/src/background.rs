//! Runs moved in the background: runs started with `--detach`, commands
//! running beside each other, and the store's timestamps on the clock the
//! test servers log with.

use std::process::{Child, Stdio};

use crate::{Keystep, Ran};

impl Keystep {
    /// Starts `automation` about `user` with `--detach` (nothing moves it
    /// yet); returns its run id.
    pub fn detach(&self, automation: &str, user: &str) -> i64 {
        let input = format!(r#"{{"user_id": "{user}"}}"#);
        let started = self.json(&["run", automation, "--detach", "--input", &input]);
        started["run_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no run_id: {started}"))
    }

    /// Starts a `keystep` command in the background, its output piped;
    /// [`finish`] waits for it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Waits for a command [`Keystep::spawn`] started: its exit code and output.
pub fn finish(child: Child) -> Ran {
    Ran::from(child.wait_with_output().unwrap())
}

/// A timestamp as the store writes it (RFC 3339) in Unix seconds, the
/// clock of the test servers' logs.
pub fn unix_seconds(ts: &str) -> f64 {
    rusqlite::Connection::open_in_memory()
        .unwrap()
        .query_row("SELECT (julianday(?1) - 2440587.5) * 86400.0", [ts], |r| {
            r.get::<_, Option<f64>>(0)
        })
        .unwrap()
        .unwrap_or_else(|| panic!("not a timestamp: {ts:?}"))
}
