//! What `keystep serve` tells about itself, through the real binary:
//! Prometheus `/metrics` counting plugin calls and traps, trigger lag,
//! timer lateness, queue depth and breaker trips; and its log as JSON
//! lines with each run's fields, with no token secret anywhere in it.

use std::time::Duration;

use keystep_tests::Keystep;
use serde_json::Value as Json;

const READ: &str = "rd-5b0e7c2d9a14f3e8b6";

const CONFIG: &str = r#"
[[serve.tokens]]
name = "scraper"
scope = "read"
secret = "env:KS_TEST_READ"
"#;

/// A user_created automation that scores the joiner (one good plugin call),
/// waits a second (a timer), then calls the hostile plugin to trap.
const JOINER: &str = r#"
name: joiner
trigger: user_created
max_runs: { count: 1, per: 1h }
steps:
  - id: score
    call_function: { function: risk-rust, input: { user_id: "{{ ctx.trigger.user_id }}" } }
  - id: settle
    wait: { duration: 1s }
  - id: misbehave
    call_function: { function: hostile, input: { do: trap } }
"#;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn metrics_count_plugin_calls_traps_trigger_lag_timer_lateness_and_breaker_trips_and_logs_are_json()
{
    let k = Keystep::with_examples();
    k.with_plugins(&["risk-rust"]);
    k.add_plugin("hostile", "hostile");
    k.env("KS_TEST_READ", READ);
    k.write("keystep.toml", CONFIG);
    k.write("automations/joiner.yaml", JOINER);
    let s = k.serve_with(&["--listen", "127.0.0.1:0", "--log-format", "json"]);
    // Two joiners: the first runs, the second is past the breaker.
    k.write(
        "joiners.yaml",
        "users:\n  - { id: u-j1, display_name: J One, email: j1@example.com }\n  - { id: u-j2, display_name: J Two, email: j2@example.com }\n",
    );
    k.ok(&["directory", "import", "joiners.yaml"]);
    s.wait_for("\"run 1 (joiner) failed\"", LONG);
    let text = s.call("GET", "/metrics", READ, "");
    assert_eq!(text.status, 200, "{text:?}");
    let text = text.body.as_str().unwrap().to_string();
    for line in [
        "keystep_plugin_calls_total{plugin=\"risk-rust\",outcome=\"ok\"} 1\n",
        "keystep_plugin_calls_total{plugin=\"hostile\",outcome=\"trap\"} 1\n",
        "keystep_trigger_lag_seconds_count 2\n",
        "keystep_timer_lateness_seconds_count 1\n",
        "keystep_breaker_trips_total{automation=\"joiner\"} 1\n",
        "keystep_runs{automation=\"joiner\",state=\"paused\"} 1\n",
        "keystep_trigger_events_behind 0\n",
        "keystep_runs_due 0\n",
        "keystep_trigger_runs_total{trigger=\"user_created\"} 2\n",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    // The wait was woken well within a second of its due time.
    let late: f64 = metric(&text, "keystep_timer_lateness_seconds_sum");
    assert!(late < 1.0, "{late}\n{text}");

    let (status, log) = s.signal("TERM");
    assert!(status.success(), "{status:?}");
    let lines: Vec<Json> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"].as_str().unwrap_or("").starts_with(message))
            .unwrap_or_else(|| panic!("no {message:?} in {log:#?}"))
    };
    let started = find("run 1 (joiner) started by event ");
    assert_eq!(
        (started["run"].as_i64(), started["automation"].as_str()),
        (Some(1), Some("joiner"))
    );
    assert_eq!(started["level"], "INFO");
    assert!(started["timestamp"].as_str().unwrap().starts_with("20"));
    let paused = find("run 2 (joiner) started by event ");
    assert!(
        paused["message"]
            .as_str()
            .unwrap()
            .ends_with(", paused by its circuit breaker")
    );
    assert_eq!(paused["paused"], true);
    let failed = lines
        .iter()
        .find(|l| l["step"] == "misbehave")
        .unwrap_or_else(|| panic!("no failed attempt in {log:#?}"));
    assert_eq!(failed["level"], "WARN");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("plugin `hostile`: trap: "),
        "{failed}"
    );
    let ended = find("run 1 (joiner) failed");
    assert_eq!(ended["state"], "failed");
    find("circuit breaker tripped");
    assert!(
        !log.iter().any(|l| l.contains(READ)),
        "a token secret was logged"
    );
}

/// The value of a metric line without labels.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}
