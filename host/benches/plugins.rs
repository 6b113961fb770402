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
//!    `keystep --version` (process start alone).
//!
//! `cargo bench -p keystep --bench plugins` (build the plugins first:
//! `bash plugins/build.sh`); `KEYSTEP_BENCH_QUICK=1` shrinks every count
//! for a smoke run; `KEYSTEP_BENCH_ONLY=risk-js` (or `echo`, or `start`) measures one thing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use keystep::plugins::Plugins;
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
