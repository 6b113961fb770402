//! What the engine and webhook benches share: the size switch, the async
//! runtime, samples summarised as median, min and max, and the summary table.

use std::time::Duration;

/// How many samples every figure is the median of.
pub const SAMPLES: usize = 5;

/// `KEYSTEP_BENCH_QUICK=1` (or `--quick`): smaller sizes for the smoke run
/// of `scripts/test`; the same number of samples.
pub fn quick() -> bool {
    std::env::var("KEYSTEP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().any(|a| a == "--quick")
}

/// A multi-thread runtime like the CLI's (one worker per core).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-worker")
        .build()
}

/// The samples of one figure.
#[derive(Default, Clone)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    /// `ops` done in `took`, as a rate per second.
    pub fn push_rate(&mut self, ops: usize, took: Duration) {
        self.push(ops as f64 / took.as_secs_f64());
    }

    /// (median, min, max); panics on no samples, which is a bench bug.
    pub fn summary(&self) -> (f64, f64, f64) {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(!sorted.is_empty(), "a figure without samples");
        (
            sorted[sorted.len() / 2],
            sorted[0],
            sorted[sorted.len() - 1],
        )
    }
}

/// The summary table: one row per figure, its target beside it.
pub struct Table(Vec<(String, Samples, u32, String)>);

impl Table {
    pub fn new() -> Table {
        Table(Vec::new())
    }

    /// A row shown with `decimals` places.
    pub fn row(&mut self, name: impl Into<String>, s: &Samples, decimals: u32, target: &str) {
        self.0
            .push((name.into(), s.clone(), decimals, target.to_string()));
    }

    pub fn print(&self) {
        let width = self.0.iter().map(|r| r.0.len()).max().unwrap_or(0);
        println!(
            "  {:width$}  {:>10} {:>10} {:>10}  target",
            "measure", "median", "min", "max"
        );
        for (name, samples, decimals, target) in &self.0 {
            let (median, min, max) = samples.summary();
            let d = *decimals as usize;
            println!("  {name:width$}  {median:>10.d$} {min:>10.d$} {max:>10.d$}  {target}");
        }
    }
}
