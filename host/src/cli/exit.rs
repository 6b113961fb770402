//! The outcome of a command, as the process's exit code (see `cli`).

/// The outcome of a command, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    RunFailed = 1,
    BadInput = 2,
    Interrupted = 130,
}
