//! A step's `timeout:` while its effect runs: a webhook that answers too
//! late fails the attempt as retryable and is retried with the same
//! webhook-id; a long call within its timeout keeps the run's lease, so a
//! second process does not take the run over and call again.

use std::time::{Duration, Instant};

use keystep_tests::{Keystep, WebhookReceiver, attempt_seconds, attempts, finish, unix_seconds};
use serde_json::{Value as Json, json};

const SECRET: &str = "whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=";

/// Webhook `hr` at the receiver, its own HTTP timeout 30 s (the step's
/// timeout is the one that counts), and `extra` config after it.
fn setup(receiver: &WebhookReceiver, automation: &str, extra: &str) -> Keystep {
    let k = Keystep::with_examples();
    k.write(
        "keystep.toml",
        &format!(
            "[webhooks.hr]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\ntimeout_ms = 30000\n{extra}",
            receiver.url("/hook/hr")
        ),
    );
    k.write("automations/tell-hr.yaml", automation);
    k.env("HOOK_SECRET", SECRET);
    k
}

/// Tells HR, each attempt allowed 1 s, tried twice.
const IMPATIENT: &str = r#"
name: tell-hr
trigger: manual
steps:
  - id: tell_hr
    run_webhook: { webhook: hr, payload: { user: "{{ ctx.trigger.user_id }}" } }
    timeout: 1s
    retry: { attempts: 2, backoff: 1s }
"#;

#[test]
fn a_webhook_past_its_timeout_fails_retryable_and_is_retried() {
    let receiver = WebhookReceiver::start(SECRET);
    // The first delivery is answered after 4 s, the second at once.
    receiver.script(&json!({"slow": 1, "delay_ms": 4000}));
    let k = setup(&receiver, IMPATIENT, "");
    let (code, history) = k.run_json("tell-hr", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(
        attempts(&history),
        [
            json!({"step_id": "tell_hr", "attempt": 1, "state": "failed", "retryable": true}),
            json!({"step_id": "tell_hr", "attempt": 2, "state": "succeeded", "retryable": null}),
        ]
    );
    let first = &history["steps"][0];
    assert_eq!(first["error"], "timed out after 1s", "{first}");
    // Cut at the step's timeout, not when the late answer came.
    let took = attempt_seconds(first);
    assert!(
        (1.0..3.5).contains(&took),
        "the first attempt took {took} s"
    );
    // Both attempts reached the receiver, with the one webhook-id.
    let run = history["run"]["id"].as_i64().unwrap();
    let ids: Vec<Json> = receiver
        .deliveries()
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    let id = json!(format!("keystep-{run}-tell_hr"));
    assert_eq!(ids, [id.clone(), id]);
}

/// Tells HR, the attempt allowed 20 s.
const PATIENT: &str = r#"
name: tell-hr
trigger: manual
steps:
  - id: tell_hr
    run_webhook: { webhook: hr, payload: { user: "{{ ctx.trigger.user_id }}" } }
    timeout: 20s
"#;

/// How long the receiver takes, in ms: three times the 2 s lease.
const LONG_MS: u64 = 6000;

#[test]
fn a_long_call_within_its_timeout_keeps_its_lease() {
    let receiver = WebhookReceiver::start(SECRET);
    receiver.script(&json!({"slow": 1, "delay_ms": LONG_MS}));
    let k = setup(&receiver, PATIENT, "[engine]\nlease = \"2s\"\n");
    let run = k.detach("tell-hr", "u-ada");
    let first = k.spawn(&["runs", "resume"]);

    // Once the call is under way, wait past the lease it took with it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let received = loop {
        if let Some(d) = receiver.deliveries().first() {
            break d["received_at"].as_f64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the call never reached the receiver"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    std::thread::sleep(Duration::from_secs_f64((received + 3.5 - now()).max(0.0)));
    // The lease was renewed: it runs past the 2 s the first transaction gave.
    let lease_until: String = k
        .db()
        .query_row("SELECT lease_until FROM runs WHERE id = ?1", [run], |r| {
            r.get(0)
        })
        .unwrap();
    let ahead = unix_seconds(&lease_until) - now();
    assert!(
        ahead > 0.0,
        "3.5 s into the call the lease ran out {:.3} s ago",
        -ahead
    );

    // A second process, while the first still waits on the call, leaves
    // the run alone.
    let second = k.run(&["runs", "resume"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        receiver.deliveries()[0]["answered_at"].is_null(),
        "the call was answered before the second process ended; it proves nothing"
    );
    let first = finish(first);
    assert_eq!(first.code, 0, "{first:?}");

    // One call, one attempt, by the first process.
    assert_eq!(receiver.attempts().len(), 1, "{:?}", receiver.attempts());
    let history = k.show(run);
    assert_eq!(history["run"]["state"], "succeeded", "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "tell_hr", "attempt": 1, "state": "succeeded", "retryable": null})]
    );
    assert!(attempt_seconds(&history["steps"][0]) >= LONG_MS as f64 / 1000.0);
    assert_eq!(
        second
            .stdout
            .lines()
            .filter(|l| l.contains(&format!("[{run}]")))
            .count(),
        0,
        "the second process moved the run: {}",
        second.stdout
    );
}

/// Calls the hostile function's endless loop, each attempt allowed 1 s
/// (the plugin's own time limit is 8 s), tried twice.
const SPINNER: &str = r#"
name: spin
trigger: manual
steps:
  - id: spin
    call_function: { function: hostile, input: { do: loop } }
    timeout: 1s
    retry: { attempts: 2, backoff: 1s }
"#;

#[test]
fn a_plugin_call_past_its_timeout_fails_retryable_and_is_retried() {
    let k = Keystep::with_examples();
    k.with_plugins(&["hostile"]);
    k.write("plugins/hostile.toml", "[limits]\ntimeout_ms = 8000\n");
    k.write("automations/spin.yaml", SPINNER);
    let started = Instant::now();
    let (code, history) = k.run_json("spin", "{}");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [
            json!({"step_id": "spin", "attempt": 1, "state": "failed", "retryable": true}),
            json!({"step_id": "spin", "attempt": 2, "state": "failed", "retryable": true}),
        ]
    );
    for step in history["steps"].as_array().unwrap() {
        assert_eq!(step["error"], "timed out after 1s", "{step}");
        // Cut at the step's timeout, not at the plugin's 8 s.
        let took = attempt_seconds(step);
        assert!((1.0..4.0).contains(&took), "an attempt took {took} s");
    }
    eprintln!("`keystep run` took {elapsed:.3} s for two attempts of 1 s");
}
