//! A plugin's stderr: always writable, keeping only its last few KiB, so
//! that a chatty plugin is never stopped by it and a panic message (the
//! last thing written) survives to be shown with the error.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// The last `capacity` bytes written.
#[derive(Clone)]
pub struct Tail {
    capacity: usize,
    kept: Arc<Mutex<VecDeque<u8>>>,
}

impl Tail {
    pub fn new(capacity: usize) -> Tail {
        Tail {
            capacity,
            kept: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(self.capacity)..];
        let overflow = (kept.len() + bytes.len()).saturating_sub(self.capacity);
        kept.drain(..overflow);
        kept.extend(bytes);
    }

    /// What is kept, as text.
    pub fn text(&self) -> String {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = kept.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }
}

/// The most lines of stderr an error shows: room for a Python traceback.
pub const SHOWN_LINES: usize = 40;

/// The lines of a plugin's stderr worth showing with its error, oldest
/// first: the last [`SHOWN_LINES`] that are not blank and not Rust's
/// `RUST_BACKTRACE` hint (the host's environment is not the plugin's, so
/// it cannot be followed).
pub fn shown(stderr: &str) -> Vec<&str> {
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("RUST_BACKTRACE"))
        .collect();
    kept[kept.len().saturating_sub(SHOWN_LINES)..].to_vec()
}

#[async_trait::async_trait]
impl OutputStream for Tail {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for Tail {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Tail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Tail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Tail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_traceback_is_shown_without_the_backtrace_hint() {
        let stderr = "\nTraceback (most recent call last):\n  File \"app.py\", line 3, in call\n    \
                      return 1 / 0\nZeroDivisionError: division by zero\n\nthread '<unnamed>' \
                      panicked at src/lib.rs:1:1:\nPython function threw an unexpected exception\n\
                      note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let lines = shown(stderr);
        assert_eq!(lines.first(), Some(&"Traceback (most recent call last):"));
        assert!(lines.contains(&"ZeroDivisionError: division by zero"));
        assert_eq!(
            lines.last(),
            Some(&"Python function threw an unexpected exception")
        );
        let many = "line\n".repeat(100);
        assert_eq!(shown(&many).len(), SHOWN_LINES);
    }

    #[test]
    fn keeps_the_last_bytes() {
        let tail = Tail::new(8);
        tail.push(b"hello ");
        tail.push(b"world");
        assert_eq!(tail.text(), "lo world");
        tail.push(b"0123456789");
        assert_eq!(tail.text(), "23456789");
    }
}
