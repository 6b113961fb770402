//! Standard output that cannot panic. A write that fails (the reader of a
//! pipe is gone, the disk is full) is remembered and later output is
//! dropped, so the command still finishes what it started (a run is saved
//! either way); [`finish`] then says what went wrong.

use std::io::{self, Write};
use std::sync::OnceLock;

use super::exit::Exit;

/// The first write error on standard output.
static FAILED: OnceLock<Failure> = OnceLock::new();

struct Failure {
    kind: io::ErrorKind,
    message: String,
}

fn failed(e: &io::Error) {
    let _ = FAILED.set(Failure {
        kind: e.kind(),
        message: e.to_string(),
    });
}

/// Writes formatted text to standard output (what `print!` and `println!`
/// do in the CLI).
pub fn write(args: std::fmt::Arguments, newline: bool) {
    if FAILED.get().is_some() {
        return;
    }
    let mut out = io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        failed(&e);
    }
}

/// Whether everything so far reached standard output.
pub fn written() -> bool {
    FAILED.get().is_none()
}

/// Writes to standard error, ignoring failure: there is nowhere left to
/// report it.
pub fn write_err(args: std::fmt::Arguments) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// Flushes standard output and turns a write error into the exit code: a
/// closed pipe keeps `code` (the reader chose to stop reading); any other
/// error is reported on standard error, and the command fails.
pub fn finish(code: i32) -> i32 {
    if let Err(e) = io::stdout().lock().flush() {
        failed(&e);
    }
    match FAILED.get() {
        None => code,
        Some(f) if f.kind == io::ErrorKind::BrokenPipe => code,
        Some(f) => {
            write_err(format_args!(
                "error: cannot write the output: {}",
                f.message
            ));
            if code == 0 {
                Exit::BadInput as i32
            } else {
                code
            }
        }
    }
}
