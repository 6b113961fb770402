//! A hook for the crash tests, compiled only with the `test-hooks` feature.
//!
//! With `KEYSTEP_TEST_STEP_DELAY_MS` set, each transaction of a step holds
//! open that long (at most [`MAX_DELAY_MS`]) so a `kill -9` can land inside
//! one, a step's effect takes as long again, and so does the gap after
//! each transaction; the store's writer then commits one transaction at a
//! time and rests as long after each, so that kills land between
//! transactions as often as inside them, however many runs are in flight. stderr marks where each transaction opens (`in
//! ACTOR`), where it is over (`out ACTOR`) and where an effect is under way
//! (`performing ACTOR`), so the test can tell where a kill landed.
//! Without the feature these functions do nothing and the variable is
//! never read: in a release build, whoever sets the environment cannot
//! hold the store's write lock.

/// The longest hold the hook grants, whatever the variable asks.
#[cfg(feature = "test-hooks")]
const MAX_DELAY_MS: u64 = 1000;

/// The delay the variable asks for, if set.
#[cfg(feature = "test-hooks")]
pub fn delay() -> Option<std::time::Duration> {
    let ms: u64 = std::env::var("KEYSTEP_TEST_STEP_DELAY_MS")
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Duration::from_millis(ms.min(MAX_DELAY_MS)))
}

/// Inside a step's transaction, after the step's own changes: marks `in
/// ACTOR` on stderr and holds the transaction open.
#[cfg(feature = "test-hooks")]
pub fn hold(actor: &str) {
    if let Some(delay) = delay() {
        eprintln!("keystep-test-hook: in {actor}");
        std::thread::sleep(delay);
    }
}

/// After a step's transaction committed or rolled back: marks `out ACTOR`
/// and waits as long again, so that kills land between transactions too.
#[cfg(feature = "test-hooks")]
pub async fn released(actor: &str) {
    if let Some(delay) = delay() {
        eprintln!("keystep-test-hook: out {actor}");
        tokio::time::sleep(delay).await;
    }
}

/// Before a step's effect, between its two transactions: marks
/// `performing ACTOR` and waits, so kills land while effects are in flight.
#[cfg(feature = "test-hooks")]
pub async fn performing(actor: &str) {
    if let Some(delay) = delay() {
        eprintln!("keystep-test-hook: performing {actor}");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(not(feature = "test-hooks"))]
pub fn hold(_actor: &str) {}

#[cfg(not(feature = "test-hooks"))]
pub async fn released(_actor: &str) {}

#[cfg(not(feature = "test-hooks"))]
pub async fn performing(_actor: &str) {}

/// The delay asked for; never any without the feature.
#[cfg(not(feature = "test-hooks"))]
pub fn delay() -> Option<std::time::Duration> {
    None
}
