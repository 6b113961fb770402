//! Plugin benchmarks, each beside a native baseline run in the same process:
//!
//! 1. per-call latency of the Rust, Python and JavaScript risk functions
//!    (`examples/plugins/risk-*.wasm`): a fresh store and instance per call,
//!    about 1 KB of JSON in and out, against the same work done natively
//!    (`risk-rust`'s own scoring code compiled for the host: the JSON text
//!    parsed, scored and serialised); and the host's own share, a Rust function
//!    (`hostile`) that echoes 1.4 KB;
//! 2. the time from process start to the first result of `keystep call
//!    risk-python`, with a warm and with a cold compile cache, against
//!    `keystep --version` (process start alone);
//! 3. many concurrent calls from async code (a tokio runtime with a worker
//!    per core), 64 and 256 callers, of the Rust and JavaScript risk
//!    functions: on the bounded blocking pool that keystep uses
//!    (`Plugins::blocking`), and on wasmtime's async support with epoch
//!    yielding (the `async_calls` prototype); calls/s, the p50/p99 of a
//!    call's latency (from its caller's issue: a wait for a permit is in
//!    it, a wait in the runtime's run queue is not), and how late a 1 ms
//!    timer task on the same runtime wakes (p99): what the calls cost every
//!    other task, the engine's own.
//!
//! `cargo bench -p keystep --bench plugins` (build the plugins first:
//! `bash plugins/build.sh`); `KEYSTEP_BENCH_QUICK=1` shrinks every count
//! for a smoke run; `KEYSTEP_BENCH_ONLY=risk-js` (or `echo`, `start`, `concurrent`) measures one thing.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keystep::plugins::Plugins;
use keystep::plugins::async_calls::AsyncFunctions;
use serde_json::{Value as Json, json};

const FUNCTIONS: [(&str, u32); 3] = [("risk-rust", 4000), ("risk-python", 400), ("risk-js", 600)];

fn main() {
    let quick = std::env::var("KEYSTEP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    // The functions log a line per call; measure the call, not the terminal.
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("KEYSTEP_PLUGIN_LOG", "warn") };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let plugin_dir = root.join("examples/plugins");
    for name in FUNCTIONS.map(|(n, _)| n).iter().chain(&["hostile"]) {
        assert!(
            plugin_dir.join(format!("{name}.wasm")).is_file(),
            "{name}.wasm is missing: run `bash plugins/build.sh` first"
        );
    }
    // Compiled artifacts survive between bench runs, as they do for users.
    let cache = root.join("target/bench-plugin-cache");
    let input = input();
    let text = input.to_string();
    let expected: Json = serde_json::from_str(&native(&text)).unwrap();
    println!(
        "input {} bytes, output {} bytes",
        text.len(),
        native(&text).len()
    );

    println!("\n1. per call (fresh instance each call), median of 5 rounds");
    let plugins = Plugins::new(vec![plugin_dir.clone()], cache.clone());
    let only = std::env::var("KEYSTEP_BENCH_ONLY").unwrap_or_default();
    for (name, calls) in FUNCTIONS
        .into_iter()
        .filter(|(n, _)| only.is_empty() || only == *n)
    {
        let calls = (calls / scale).max(20);
        // Load (compile or read the cache) and warm up outside the timing.
        for _ in 0..20 {
            assert_eq!(plugins.call_function(name, &input, None).unwrap(), expected);
        }
        let (mut wasm, mut base) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            wasm.push(per_call(calls, || {
                std::hint::black_box(plugins.call_function(name, &input, None).unwrap());
            }));
            base.push(per_call(calls * 10, || {
                std::hint::black_box(native(std::hint::black_box(&text)));
            }));
        }
        let (w, b) = (median(&mut wasm), median(&mut base));
        println!(
            "  {name:<12} {:>8.1} us/call (min {:.1}, max {:.1})   native {:.2} us   ratio {:.0}x",
            micros(w),
            micros(wasm[0]),
            micros(wasm[4]),
            micros(b),
            w.as_secs_f64() / b.as_secs_f64()
        );
    }

    // What the host costs on its own: a Rust function that returns its
    // input, about as large, carried in one string (cheap for the guest).
    if only.is_empty() || only == "echo" {
        let echo_input = json!({"do": "echo", "pad": "x".repeat(1400)});
        plugins.call_function("hostile", &echo_input, None).unwrap();
        let mut rounds: Vec<Duration> = (0..5)
            .map(|_| {
                per_call(4000 / scale, || {
                    std::hint::black_box(
                        plugins.call_function("hostile", &echo_input, None).unwrap(),
                    );
                })
            })
            .collect();
        let m = median(&mut rounds);
        println!(
            "  {:<12} {:>8.1} us/call (min {:.1}, max {:.1})   the host alone: `hostile` echoes 1.4 KB",
            "echo-rust",
            micros(m),
            micros(rounds[0]),
            micros(rounds[4])
        );
    }

    if only.is_empty() || only == "concurrent" {
        concurrent(&plugin_dir, &cache, &input, scale as usize);
    }

    if !(only.is_empty() || only == "start") {
        return;
    }
    println!("\n2. process start to first result of `keystep call risk-python`");
    let bin = Path::new(env!("CARGO_BIN_EXE_keystep"));
    let work = tempfile::tempdir().unwrap();
    let config = |cache: &Path| {
        format!(
            "[plugins]\ndirs = [{:?}]\ncache = {:?}\n",
            plugin_dir.display().to_string(),
            cache.display().to_string()
        )
    };
    std::fs::write(work.path().join("warm.toml"), config(&cache)).unwrap();
    let arg = input.to_string();
    let call = |cfg: &str| {
        let mut c = Command::new(bin);
        c.args(["--config", cfg, "call", "risk-python", "--input", &arg])
            .current_dir(work.path());
        c
    };
    let start_only = || {
        let mut c = Command::new(bin);
        c.arg("--version");
        c
    };
    let runs = if quick { 5 } else { 21 };
    let (mut warm, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        warm.push(timed(call("warm.toml")));
        bare.push(timed(start_only()));
    }
    let cold_runs = if quick { 1 } else { 3 };
    let mut cold = Vec::new();
    for i in 0..cold_runs {
        let fresh = work.path().join(format!("cold-{i}"));
        let cfg = format!("cold-{i}.toml");
        std::fs::write(work.path().join(&cfg), config(&fresh)).unwrap();
        cold.push(timed(call(&cfg)));
    }
    println!(
        "  warm cache   {:>8.1} ms (median of {runs}; min {:.1})",
        millis(median(&mut warm)),
        millis(warm[0])
    );
    println!(
        "  cold cache   {:>8.1} ms (median of {cold_runs}; compiles the 18 MB component)",
        millis(median(&mut cold))
    );
    println!(
        "  baseline     {:>8.1} ms (`keystep --version`, median of {runs})",
        millis(median(&mut bare))
    );
}

/// Section 3: the blocking pool against async calls with epoch yielding.
fn concurrent(plugin_dir: &Path, cache: &Path, input: &Json, scale: usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .unwrap();
    let plugins = Arc::new(Plugins::new(vec![plugin_dir.into()], cache.into()));
    let asynchronous = Arc::new(AsyncFunctions::new(plugins.clone()).unwrap());
    println!(
        "\n3. concurrent calls from async code ({cores} workers; pool of {} permits), \
         median of 5 samples",
        plugins.concurrency()
    );
    let want: Arc<Json> = Arc::new(serde_json::from_str(&native(&input.to_string())).unwrap());
    let input = Arc::new(input.clone());
    for (name, total) in [("risk-rust", 8192), ("risk-js", 768)] {
        let total = (total / scale).max(256);
        for callers in [64, 256] {
            let (p, i, w) = (plugins.clone(), input.clone(), want.clone());
            let pool = sample(&runtime, callers, total, move || {
                let (p, i, w) = (p.clone(), i.clone(), w.clone());
                async move {
                    let out = p.blocking(move |p| p.call_function(name, &i, None)).await;
                    assert_eq!(out.unwrap(), *w);
                }
            });
            let (a, i, w) = (asynchronous.clone(), input.clone(), want.clone());
            let yielding = sample(&runtime, callers, total, move || {
                let (a, i, w) = (a.clone(), i.clone(), w.clone());
                async move {
                    assert_eq!(a.call_function(name, &i).await.unwrap(), *w);
                }
            });
            for (how, s) in [("blocking pool", pool), ("async + epoch yield", yielding)] {
                println!(
                    "  {name:<10} {callers:>3} callers  {how:<20} {:>8.0} calls/s   \
                     p50 {:>8.2} ms   p99 {:>8.2} ms   timer late p99 {:>7.2} ms",
                    s.rate,
                    millis(s.p50),
                    millis(s.p99),
                    millis(s.late)
                );
            }
        }
    }
}

/// The medians over 5 samples (after one to warm up) of `total` calls made
/// by `callers` tasks at once, each call `call()`.
fn sample<F, Fut>(runtime: &tokio::runtime::Runtime, callers: usize, total: usize, call: F) -> Load
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut loads: Vec<Load> = (0..6)
        .map(|_| runtime.block_on(load(callers, total, call.clone())))
        .skip(1)
        .collect();
    let mid = loads.len() / 2;
    let pick = |loads: &mut [Load], key: fn(&Load) -> f64| {
        loads.sort_by(|a, b| key(a).total_cmp(&key(b)));
        key(&loads[mid])
    };
    Load {
        rate: pick(&mut loads, |l| l.rate),
        p50: Duration::from_secs_f64(pick(&mut loads, |l| l.p50.as_secs_f64())),
        p99: Duration::from_secs_f64(pick(&mut loads, |l| l.p99.as_secs_f64())),
        late: Duration::from_secs_f64(pick(&mut loads, |l| l.late.as_secs_f64())),
    }
}

/// One sample: calls per second over the whole, latency percentiles, and
/// the p99 of how late a 1 ms timer task woke meanwhile.
struct Load {
    rate: f64,
    p50: Duration,
    p99: Duration,
    late: Duration,
}

async fn load<F, Fut>(callers: usize, total: usize, call: F) -> Load
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let probe = tokio::spawn(async move {
        let mut late = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            late.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        late
    });
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let call = call.clone();
        let calls = total / callers + usize::from(caller < total % callers);
        tasks.spawn(async move {
            let mut took = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                call().await;
                took.push(t.elapsed());
                // As a run does between calls (its commit): let others in.
                tokio::task::yield_now().await;
            }
            took
        });
    }
    let took: Vec<Duration> = tasks.join_all().await.concat();
    let wall = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let late = probe.await.unwrap();
    Load {
        rate: took.len() as f64 / wall.as_secs_f64(),
        p50: percentile(took.clone(), 0.50),
        p99: percentile(took, 0.99),
        late: percentile(late, 0.99),
    }
}

fn percentile(mut v: Vec<Duration>, q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// About 1 KB of JSON: a user and eight grants, given inline.
fn input() -> Json {
    let grants: Vec<Json> = [
        ("aws", "app-access"),
        ("aws", "prod-admin"),
        ("aws", "staging-admin"),
        ("github", "maintainer-core"),
        ("github", "member"),
        ("jira", "engineering-team"),
        ("jira", "user"),
        ("okta", "user"),
        ("okta", "super-admin"),
        ("aws", "billing"),
        ("jira", "admin"),
        ("aws", "prod-readonly"),
    ]
    .iter()
    .map(|(app, slug)| {
        json!({"entitlement": format!("{app}:{slug}"), "app": app, "slug": slug,
               "name": slug, "source": "import"})
    })
    .collect();
    json!({
        "user": {"id": "u-ada", "email": "ada@example.com", "display_name": "Ada Lovelace",
                 "username": "ada", "status": "disabled", "manager_id": null,
                 "department": "Engineering", "title": "Staff Engineer", "attributes": {}},
        "grants": grants,
    })
}

/// The risk functions' work, natively: the same scoring code as
/// `risk-rust` (its `scoring.rs`, compiled for the host), from the input's
/// JSON text to the output's, as the guest does it.
fn native(input: &str) -> String {
    scoring::score(input).expect("the bench input is in the scorer's shape")
}

/// `risk-rust`'s scoring, compiled for the host.
#[path = "../../plugins/risk-rust/src/scoring.rs"]
mod scoring;

/// What `scoring.rs` calls in the guest: the log import (the bench logs at
/// `warn`, so the host drops the line too).
mod host {
    pub fn log(_: super::Level, message: &str) {
        std::hint::black_box(message);
    }
}

enum Level {
    Info,
}

fn per_call(calls: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed() / calls
}

fn timed(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
