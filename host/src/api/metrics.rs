//! Prometheus `/metrics` (text format 0.0.4): the runs in the store by
//! automation and state and how many are due (read at each scrape), and
//! what this process saw since it started: step attempts by step type and
//! outcome, their latency as a histogram, runs started by each kind of
//! trigger.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::engine::Observer;
use crate::store::runs::{Attempt, Run};

/// Upper bounds of the step latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One histogram: counts per bucket (not cumulative), the sum and count.
#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What this process counted.
#[derive(Default)]
struct Counted {
    /// (step type, attempt state) → attempts.
    attempts: BTreeMap<(String, String), u64>,
    /// step type → latency of its finished attempts.
    latency: BTreeMap<String, Histogram>,
    /// trigger kind → runs started.
    started: BTreeMap<String, u64>,
}

/// The process's counters, fed as an [`Observer`] and by the triggers.
#[derive(Default)]
pub struct Metrics {
    counted: Mutex<Counted>,
}

impl Metrics {
    /// Counts `n` runs started by a trigger of `kind`.
    pub fn started(&self, kind: &str, n: usize) {
        *self
            .counted
            .lock()
            .unwrap()
            .started
            .entry(kind.to_string())
            .or_default() += n as u64;
    }

    /// The text of a scrape: `runs` are (automation, state, count) and
    /// `due` the runs due now, both read from the store.
    pub fn render(&self, runs: &[(String, String, i64)], due: i64) -> String {
        let mut out = String::new();
        let counted = self.counted.lock().unwrap();
        family(
            &mut out,
            "keystep_runs",
            "gauge",
            "Runs in the store by automation and state.",
        );
        for (automation, state, n) in runs {
            let _ = writeln!(
                out,
                "keystep_runs{{automation=\"{}\",state=\"{state}\"}} {n}",
                label(automation)
            );
        }
        family(
            &mut out,
            "keystep_runs_due",
            "gauge",
            "Runs due now: the queue the engine works through.",
        );
        let _ = writeln!(out, "keystep_runs_due {due}");
        family(
            &mut out,
            "keystep_step_attempts_total",
            "counter",
            "Step attempts by step type and outcome.",
        );
        for ((kind, state), n) in &counted.attempts {
            let _ = writeln!(
                out,
                "keystep_step_attempts_total{{type=\"{kind}\",state=\"{state}\"}} {n}"
            );
        }
        family(
            &mut out,
            "keystep_step_seconds",
            "histogram",
            "How long step attempts took, by step type.",
        );
        for (kind, h) in &counted.latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "keystep_step_seconds_bucket{{type=\"{kind}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "keystep_step_seconds_bucket{{type=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "keystep_step_seconds_sum{{type=\"{kind}\"}} {}", h.sum);
            let _ = writeln!(
                out,
                "keystep_step_seconds_count{{type=\"{kind}\"}} {}",
                h.count
            );
        }
        family(
            &mut out,
            "keystep_trigger_runs_total",
            "counter",
            "Runs started by serve's triggers, by trigger kind.",
        );
        for (kind, n) in &counted.started {
            let _ = writeln!(out, "keystep_trigger_runs_total{{trigger=\"{kind}\"}} {n}");
        }
        out
    }
}

impl Observer for Metrics {
    fn attempt(&self, _run: &Run, attempt: &Attempt) {
        let mut counted = self.counted.lock().unwrap();
        let key = (attempt.kind.clone(), attempt.state.as_str().to_string());
        *counted.attempts.entry(key).or_default() += 1;
        if let Some(ms) = attempt.duration_ms() {
            counted
                .latency
                .entry(attempt.kind.clone())
                .or_default()
                .observe(ms.max(0) as f64 / 1000.0);
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_into_the_first_bucket_that_holds_it_and_renders_cumulatively() {
        let m = Metrics::default();
        {
            let mut c = m.counted.lock().unwrap();
            let h = c.latency.entry("wait".into()).or_default();
            h.observe(0.003);
            h.observe(0.2);
            h.observe(60.0);
        }
        m.started("user_created", 3);
        let text = m.render(&[("a\"b".into(), "succeeded".into(), 2)], 1);
        assert!(
            text.contains("keystep_step_seconds_bucket{type=\"wait\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("keystep_step_seconds_bucket{type=\"wait\",le=\"0.25\"} 2\n"));
        assert!(text.contains("keystep_step_seconds_bucket{type=\"wait\",le=\"30\"} 2\n"));
        assert!(text.contains("keystep_step_seconds_bucket{type=\"wait\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("keystep_step_seconds_count{type=\"wait\"} 3\n"));
        assert!(text.contains("keystep_runs{automation=\"a\\\"b\",state=\"succeeded\"} 2\n"));
        assert!(text.contains("keystep_runs_due 1\n"));
        assert!(text.contains("keystep_trigger_runs_total{trigger=\"user_created\"} 3\n"));
    }
}
