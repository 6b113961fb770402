//! The states of runs and step attempts, as the schema's `CHECK`s list
//! them.

use serde::Serialize;

/// Where a run is (the schema's `CHECK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Started, no step attempted yet.
    Pending,
    /// Created beyond its automation's circuit breaker (`max_runs`): waits
    /// for an operator to resume or cancel it.
    Paused,
    /// Moving: a process holds its lease.
    Running,
    /// Parked on a timer, a retry's backoff or a child run.
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub const ALL: [RunState; 7] = [
        RunState::Pending,
        RunState::Paused,
        RunState::Running,
        RunState::Waiting,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
    ];

    /// Every state's name, for the CLI's `--state`.
    pub const NAMES: &[&str] = &[
        "pending",
        "paused",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "cancelled",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<RunState> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// Whether a run in this state has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a step attempt is (the schema's `CHECK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptState {
    /// Recorded before its outside effect started; settled after it. An
    /// attempt found in this state after a crash is performed again, with
    /// the same idempotency key.
    Performing,
    /// A timer or a child run: finished when it fires or the child ends.
    Waiting,
    Succeeded,
    Failed,
    Skipped,
}

impl AttemptState {
    const ALL: [AttemptState; 5] = [
        AttemptState::Performing,
        AttemptState::Waiting,
        AttemptState::Succeeded,
        AttemptState::Failed,
        AttemptState::Skipped,
    ];
    const NAMES: [&str; 5] = ["performing", "waiting", "succeeded", "failed", "skipped"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<AttemptState> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }
}

impl std::fmt::Display for AttemptState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
