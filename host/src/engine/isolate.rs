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
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::automation::{catalog::Catalog, parse};
    use crate::store::Store;
    use crate::store::runs::{Attempt, Run};

    #[test]
    fn a_panic_becomes_an_error_with_its_place() {
        let err = catch(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("isolate.rs"), "{err}");
        assert_eq!(catch(|| 5), Ok(5));
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("keystep.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_panic_inside_a_write_rolls_it_back() {
        let (_dir, store) = store();
        let panicked = catch(|| {
            store.write(|conn| -> rusqlite::Result<()> {
                conn.execute(
                    "INSERT INTO automation_versions VALUES ('h', 'n', 'p', 's', 't')",
                    [],
                )?;
                panic!("inside the transaction")
            })
        });
        assert!(panicked.unwrap_err().contains("inside the transaction"));
        assert!(
            store.conn().is_autocommit(),
            "the transaction is still open"
        );
        let rows: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM automation_versions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    /// Panics while being told about an attempt of run `.0`: a panic inside
    /// that run's transition.
    struct PanicsOn(i64);

    impl Observer for PanicsOn {
        fn attempt(&mut self, run: &Run, _attempt: &Attempt) {
            if run.id == self.0 {
                panic!("the observer broke on run {}", run.id);
            }
        }
    }

    #[test]
    fn a_run_that_panics_fails_alone_and_the_others_go_on() {
        let (_dir, store) = store();
        let text = "name: t\ntrigger: manual\nsteps:\n  - id: a\n    wait: { duration: 0s }\n  - id: b\n    wait: { duration: 0s }\n";
        let automation = Arc::new(parse(Path::new("t.yaml"), text).unwrap());
        let engine = Engine::new(&store, Catalog::new(Vec::new()));
        let ids: Vec<i64> = (0..3)
            .map(|_| engine.start(automation.clone(), json!({})).unwrap())
            .collect();
        engine.drive(&mut PanicsOn(ids[1])).unwrap();
        let runs: Vec<Run> = ids
            .iter()
            .map(|id| runs::load(store.conn(), *id).unwrap().unwrap())
            .collect();
        let states: Vec<&str> = runs.iter().map(|r| r.state.as_str()).collect();
        assert_eq!(states, ["succeeded", "failed", "succeeded"]);
        let error = runs[1].error.as_deref().unwrap();
        assert!(
            error.contains("(a bug)") && error.contains("the observer broke on run"),
            "{error}"
        );
        let attempts = runs::attempts(store.conn(), ids[1]).unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].state, "failed");
        assert!(store.conn().is_autocommit());
    }
}
