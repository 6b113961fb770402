//! A panic inside one run's work must not stop the others (design section
//! 7): [`catch`] turns a panic into an error carrying its message and where
//! it happened, and keeps the process's panic hook quiet while it does (the
//! run's error records it; nothing is printed).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    /// Set while [`catch`] runs: the panic hook then keeps quiet.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic happened, for the error.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`; a panic inside becomes `Err` with its message and where it
/// happened, printed by nobody.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
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

/// A future whose every poll runs under [`catch`]: a panic ends it with
/// `Err` instead of unwinding into the runtime.
pub struct Caught<F> {
    inner: Pin<Box<F>>,
    done: bool,
}

/// `future`, with its panics caught (see [`Caught`]).
pub fn caught<F: Future>(future: F) -> Caught<F> {
    Caught {
        inner: Box::pin(future),
        done: false,
    }
}

impl<F: Future> Future for Caught<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "a caught future polled after it ended");
        let this = &mut *self;
        match catch(|| this.inner.as_mut().poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                this.done = true;
                Poll::Ready(Ok(value))
            }
            Err(panic) => {
                this.done = true;
                Poll::Ready(Err(panic))
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_place() {
        let err = catch(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("panics.rs"), "{err}");
        assert_eq!(catch(|| 5), Ok(5));
    }

    #[test]
    fn a_panicking_future_ends_with_the_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ended: Result<(), String> = runtime.block_on(caught(async {
            tokio::task::yield_now().await;
            panic!("inside a run");
        }));
        assert!(ended.unwrap_err().starts_with("inside a run (at "));
        assert_eq!(runtime.block_on(caught(async { 3 })), Ok(3));
    }
}
