//! Prometheus `/metrics` (text format 0.0.4). Read from the store at each
//! scrape: the runs by automation and state, how many are due (the queue
//! the engine works through), how far the event matcher is behind the log,
//! breaker trips. Counted by this process since it started: step attempts
//! by step type and outcome and their latency, plugin calls by outcome
//! (traps apart), runs started by each kind of trigger and the lag from
//! event to run, and how late waiting runs woke.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::Observer;
use crate::plugins::CallOutcome;
use crate::store::runs::{Attempt, Run};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
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

    /// Its lines, `labels` (`type="wait"`, or empty) on each.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braced} {}", self.count);
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
    /// From an event's commit to its run's.
    trigger_lag: Histogram,
    /// From a waiting run's due time to its move.
    lateness: Histogram,
}

/// What a scrape reads besides this process's counts.
#[derive(Debug, Default)]
pub struct Scrape {
    /// (automation, state, runs).
    pub runs: Vec<(String, String, i64)>,
    /// Runs due now.
    pub due: i64,
    /// Events in the log the matcher has not read yet.
    pub events_behind: i64,
    /// (automation, trips).
    pub trips: Vec<(String, i64)>,
    /// (plugin, outcome, calls).
    pub plugin_calls: Vec<(String, CallOutcome, u64)>,
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

    /// Counts a run started `lag` after the event that started it.
    pub fn trigger_lag(&self, lag: Duration) {
        self.counted
            .lock()
            .unwrap()
            .trigger_lag
            .observe(lag.as_secs_f64());
    }

    /// The text of a scrape.
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut out = String::new();
        let counted = self.counted.lock().unwrap();
        family(
            &mut out,
            "keystep_runs",
            "gauge",
            "Runs in the store by automation and state.",
        );
        for (automation, state, n) in &scrape.runs {
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
        let _ = writeln!(out, "keystep_runs_due {}", scrape.due);
        family(
            &mut out,
            "keystep_trigger_events_behind",
            "gauge",
            "Events in the log the trigger matcher has not read yet.",
        );
        let _ = writeln!(
            out,
            "keystep_trigger_events_behind {}",
            scrape.events_behind
        );
        family(
            &mut out,
            "keystep_breaker_trips_total",
            "counter",
            "Times each automation's circuit breaker tripped (max_runs).",
        );
        for (automation, n) in &scrape.trips {
            let _ = writeln!(
                out,
                "keystep_breaker_trips_total{{automation=\"{}\"}} {n}",
                label(automation)
            );
        }
        family(
            &mut out,
            "keystep_plugin_calls_total",
            "counter",
            "Plugin calls by plugin and outcome: ok, error (the plugin returned one) or trap.",
        );
        for (plugin, outcome, n) in &scrape.plugin_calls {
            let _ = writeln!(
                out,
                "keystep_plugin_calls_total{{plugin=\"{}\",outcome=\"{}\"}} {n}",
                label(plugin),
                outcome.as_str()
            );
        }
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
            h.render(
                &mut out,
                "keystep_step_seconds",
                &format!("type=\"{kind}\""),
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
        family(
            &mut out,
            "keystep_trigger_lag_seconds",
            "histogram",
            "From a directory event's commit to the commit of the run it started.",
        );
        counted
            .trigger_lag
            .render(&mut out, "keystep_trigger_lag_seconds", "");
        family(
            &mut out,
            "keystep_timer_lateness_seconds",
            "histogram",
            "From a waiting run's due time (a timer, a retry's backoff) to its move.",
        );
        counted
            .lateness
            .render(&mut out, "keystep_timer_lateness_seconds", "");
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

    fn woke(&self, _run: &Run, late: Duration) {
        self.counted
            .lock()
            .unwrap()
            .lateness
            .observe(late.as_secs_f64());
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
        m.trigger_lag(Duration::from_millis(300));
        let text = m.render(&Scrape {
            runs: vec![("a\"b".into(), "succeeded".into(), 2)],
            due: 1,
            events_behind: 4,
            trips: vec![("offboard".into(), 2)],
            plugin_calls: vec![("risk".into(), CallOutcome::Trap, 5)],
        });
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
        assert!(
            text.contains("keystep_trigger_lag_seconds_bucket{le=\"0.25\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("keystep_trigger_lag_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("keystep_trigger_lag_seconds_count 1\n"));
        assert!(text.contains("keystep_timer_lateness_seconds_count 0\n"));
        assert!(text.contains("keystep_trigger_events_behind 4\n"));
        assert!(text.contains("keystep_breaker_trips_total{automation=\"offboard\"} 2\n"));
        assert!(text.contains("keystep_plugin_calls_total{plugin=\"risk\",outcome=\"trap\"} 5\n"));
    }
}
