//! Plugin calls from async code: each call runs on tokio's blocking pool,
//! at most N at once.
//!
//! A call blocks its thread: the plugin's code runs there, and its
//! `http-fetch` (reqwest's blocking client) and the functions' `directory`
//! import wait there. So a call never runs on a runtime worker, where it
//! would stall every other task of that worker; and a semaphore bounds how
//! many run at once, and with them the threads and memory (each call may
//! hold up to its memory limit) that calls take. Measured against
//! wasmtime's async support with epoch yielding: see the README's
//! performance section.
//!
//! A call's time limit counts from when it starts running: its sandbox,
//! and so its deadline, is made inside the pool. The wait for a permit is
//! the caller's to bound (the step's `timeout`). The permit moves into the
//! call, so a call whose caller stopped waiting still holds it until it
//! ends, at its own time limit at the latest: abandoned calls cannot pile
//! up past N.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Runs blocking calls, at most `size` at once.
pub struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
}

impl Pool {
    /// A pool running at most `size` calls at once (at least one).
    pub fn new(size: usize) -> Pool {
        let size = size.max(1);
        Pool {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Twice the machine's parallelism, so that calls waiting on I/O
    /// (`http-fetch`, the directory) leave the cores to calls that compute,
    /// at least 4 (so a small machine still overlaps a slow fetch with other
    /// calls), at most 50: the pooling allocator keeps room for 50
    /// concurrent calls of the large Python and JavaScript components.
    pub fn default_size() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (2 * cores).clamp(4, 50)
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// `f` on the blocking pool once a permit is free; its result. A panic
    /// in `f` is resumed here.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        let call = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        });
        match call.await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new(Pool::default_size())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use serde_json::json;
    use tempfile::TempDir;

    use super::*;
    use crate::plugins::Plugins;

    #[test]
    fn more_calls_than_permits_never_run_more_than_n_at_once() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let pool = Arc::new(Pool::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = runtime.block_on(async {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..24 {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                calls.spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(10));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                });
            }
            calls.join_all().await.len()
        });
        assert_eq!(done, 24);
        let most = most.load(Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} calls ran at once");
    }

    /// The `hostile` example plugin, granted `grants`, in a host running
    /// `calls` calls at once; and a runtime like the engine's.
    fn hostile(grants: &str, calls: usize) -> (Arc<Plugins>, tokio::runtime::Runtime, TempDir) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let wasm = root.join("examples/plugins/hostile.wasm");
        assert!(
            wasm.is_file(),
            "{} is missing: run `bash plugins/build.sh`",
            wasm.display()
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&wasm, dir.path().join("hostile.wasm")).unwrap();
        std::fs::write(dir.path().join("hostile.toml"), grants).unwrap();
        let cache = root.join("target/plugin-cache-unit");
        let plugins = Plugins::new(vec![dir.path().into()], cache).with_concurrency(calls);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        (Arc::new(plugins), runtime, dir)
    }

    /// A call queued behind others still gets its whole time limit once it
    /// runs, and a call past it fails with the time-limit error.
    #[test]
    fn a_queued_call_past_its_time_limit_fails_with_the_time_limit_error() {
        let (plugins, runtime, _dir) = hostile("[limits]\ntimeout_ms = 200\n", 1);
        let outcomes = runtime.block_on(async {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..3 {
                let plugins = plugins.clone();
                calls.spawn(async move {
                    plugins
                        .blocking(|p| {
                            let started = Instant::now();
                            let out = p.call_function("hostile", &json!({"do": "loop"}), None);
                            (out, started.elapsed())
                        })
                        .await
                });
            }
            calls.join_all().await
        });
        for (out, ran) in outcomes {
            let e = out.unwrap_err();
            assert_eq!(e.code.as_deref(), Some("trap"), "{e}");
            assert!(
                e.message.contains("ran past its time limit of 200ms"),
                "{e}"
            );
            assert!(!e.is_retryable(), "{e}");
            // Counted from the start of its run, not from the queue.
            assert!(ran >= Duration::from_millis(200), "ran {ran:?}");
        }
    }

    /// `http-fetch` (reqwest's blocking client) works from async code: the
    /// request reaches the server and its answer the plugin.
    #[test]
    fn http_fetch_from_async_code_reaches_its_host() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        let served = std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let mut request = [0u8; 4096];
            let n = conn.read(&mut request).unwrap();
            let answer = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
            conn.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let (plugins, runtime, _dir) = hostile(&format!("allow_hosts = [\"{url}\"]\n"), 2);
        let input = json!({"do": "fetch", "url": format!("{url}/probe")});
        let out = runtime
            .block_on(plugins.blocking(move |p| p.call_function("hostile", &input, None)))
            .unwrap();
        assert_eq!(out, json!({"status": 200, "body": "hello"}));
        assert!(served.join().unwrap().starts_with("GET /probe "));
    }

    #[test]
    fn the_default_size_is_between_4_and_50() {
        assert!((4..=50).contains(&Pool::default_size()));
        assert_eq!(Pool::new(0).size(), 1);
    }
}
