//! One broken run must not stop the others (design section 7): a panic or a
//! run-specific error inside one run's transition fails that run, recorded
//! in the store, and the engine goes on with the rest. Only store errors,
//! which no other run would escape either, stop the engine.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use super::{Engine, Observer};
use crate::store::runs::{self, RunUpdate};
use crate::store::ts;

thread_local! {
    /// Set while [`catch`] runs: the panic hook then keeps quiet.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic happened, for the run's error.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`; a panic inside becomes `Err` with its message and where it
/// happened, printed by nobody (the run's error records it).
pub(super) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was_quiet = QUIET.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.set(was_quiet);
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        match LOCATION.take() {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

/// Wraps the process's panic hook once: panics inside [`catch`] are only
/// noted; every other panic prints as before.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.get() {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.set(at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Whether an error from a transition comes from the store itself (and
/// so would stop any run), rather than from the one run.
pub(super) fn is_store_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<rusqlite::Error>().is_some()
}

impl Engine<'_> {
    /// Fails run `id`, which broke the engine's work on it, with `error`,
    /// and ends its waiting attempt if it has one. Nothing happens if the run
    /// has ended or another process moved it meanwhile.
    pub(super) fn fail_broken(
        &self,
        id: i64,
        error: &str,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<()> {
        let Some(mut run) = runs::load(self.store.conn(), id)? else {
            return Ok(());
        };
        if run.is_terminal() {
            return Ok(());
        }
        let now = self.clock.now();
        let next = RunUpdate::fail(&run, run.attempt, error.to_string());
        let lease_until = self.lease_until();
        let written = self.store.write(|conn| -> rusqlite::Result<bool> {
            let waiting = runs::waiting_attempt(conn, &run)?;
            if !runs::update(conn, &run, &next, &self.owner, now, lease_until)? {
                return Ok(false);
            }
            if let Some(mut attempt) = waiting {
                attempt.state = "failed".into();
                attempt.error = Some(error.to_string());
                attempt.retryable = Some(false);
                attempt.finished_at = Some(ts(now));
                runs::finish_attempt(conn, &attempt)?;
            }
            Ok(true)
        })?;
        if written {
            run.apply(&next, &self.owner, lease_until);
            observer.run_ended(&run);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_place() {
        let err = catch(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("isolate.rs"), "{err}");
        assert_eq!(catch(|| 5), Ok(5));
    }
}
