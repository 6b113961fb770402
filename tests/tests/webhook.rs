//! `run_webhook` against a receiver that checks Standard Webhooks
//! signatures with the independent `standardwebhooks` package
//! (tests/servers/webhook.py): what arrives, the same `webhook-id` on every
//! attempt, and which failures are retried.

use keystep_tests::{Keystep, WebhookReceiver, assert_between, attempt_seconds, attempts};
use serde_json::{Value as Json, json};

/// The signing secret: `whsec_` and the base64 of "keystep webhook tests: hr key".
const SECRET: &str = "whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=";
/// Another valid secret, that the receiver does not know.
const OTHER_SECRET: &str = "whsec_YSBkaWZmZXJlbnQsIHdyb25nIHNpZ25pbmcga2V5";

/// `tell_hr` posts the subject's departure to webhook `hr`, and may be
/// tried three times.
const TELL_HR: &str = r#"
name: tell-hr
trigger: manual
steps:
  - id: tell_hr
    run_webhook:
      webhook: hr
      payload:
        event: user.left
        user: "{{ ctx.trigger.user_id }}"
        email: "{{ ctx.trigger.user.email }}"
        tags: [offboarding, "{{ ctx.trigger.user.department }}"]
    retry: { attempts: 3, backoff: 1s }
"#;

/// The example directory, `TELL_HR`, webhook `hr` at the receiver's
/// `/hook/hr` with two extra headers and a 1 s timeout, its secret in
/// `$HOOK_SECRET`.
fn setup(receiver: &WebhookReceiver) -> Keystep {
    let k = Keystep::with_examples();
    k.write(
        "keystep.toml",
        &format!(
            "[webhooks.hr]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\n\
             headers = {{ X-Team = \"iam\", X-Source = \"keystep-tests\" }}\n\
             timeout_ms = 1000\n",
            receiver.url("/hook/hr")
        ),
    );
    k.write("automations/tell-hr.yaml", TELL_HR);
    k.env("HOOK_SECRET", SECRET);
    k
}

fn tell_hr(k: &Keystep) -> (i32, Json) {
    k.run_json("tell-hr", r#"{"user_id": "u-ada"}"#)
}

fn payload() -> Json {
    json!({
        "event": "user.left",
        "user": "u-ada",
        "email": "ada@example.com",
        "tags": ["offboarding", "Engineering"],
    })
}

/// The (webhook-id, status) of every request the receiver saw.
fn seen(receiver: &WebhookReceiver) -> Vec<(Json, Json)> {
    receiver
        .attempts()
        .into_iter()
        .map(|a| (a["id"].clone(), a["status"].clone()))
        .collect()
}

fn error(history: &Json, index: usize) -> String {
    history["steps"][index]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("step {index} has no error: {history}"))
        .to_string()
}

#[test]
fn a_signed_delivery_is_verified_and_the_answer_is_the_output() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 0, "{history}");
    let run = history["run"]["id"].as_i64().unwrap();
    let id = format!("keystep-{run}-tell_hr");
    // The receiver's JSON answer, as it sent it.
    assert_eq!(
        history["run"]["outputs"]["tell_hr"],
        json!({"received": 1, "id": id})
    );

    // Recorded only after `standardwebhooks` verified the signature.
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let delivery = &deliveries[0];
    assert_eq!(delivery["id"], id);
    assert_eq!(delivery["path"], "/hook/hr");
    assert_eq!(delivery["body"], payload());
    let headers = &delivery["headers"];
    assert_eq!(headers["webhook-id"], id);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-team"], "iam");
    assert_eq!(headers["x-source"], "keystep-tests");
    let timestamp: i64 = headers["webhook-timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(delivery["timestamp"], timestamp.to_string());
    assert_eq!(seen(&receiver), [(json!(id), json!(200))]);
}

#[test]
fn failures_are_retried_with_the_same_webhook_id() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    receiver.script(&json!({"fail": 2, "status": 503}));
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 0, "{history}");
    assert_eq!(history["run"]["state"], "succeeded");
    assert_eq!(
        attempts(&history),
        [
            json!({"step_id": "tell_hr", "attempt": 1, "state": "failed", "retryable": true}),
            json!({"step_id": "tell_hr", "attempt": 2, "state": "failed", "retryable": true}),
            json!({"step_id": "tell_hr", "attempt": 3, "state": "succeeded", "retryable": null}),
        ]
    );
    for index in 0..2 {
        assert_eq!(
            error(&history, index),
            r#"webhook `hr` answered 503 Service Unavailable: {"error": "scripted failure 503"}"#
        );
    }
    let run = history["run"]["id"].as_i64().unwrap();
    let id = json!(format!("keystep-{run}-tell_hr"));
    // Three deliveries of one message: the same id every time.
    assert_eq!(
        seen(&receiver),
        [
            (id.clone(), json!(503)),
            (id.clone(), json!(503)),
            (id.clone(), json!(200)),
        ]
    );
    assert_eq!(
        history["run"]["outputs"]["tell_hr"],
        json!({"received": 1, "id": id})
    );
}

#[test]
fn a_receiver_that_hangs_times_out_retryably_until_attempts_run_out() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    k.write(
        "automations/tell-hr.yaml",
        &TELL_HR.replace("attempts: 3", "attempts: 2"),
    );
    receiver.script(&json!({"hang": 2}));
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 1, "{history}");
    assert_eq!(history["run"]["state"], "failed");
    assert_eq!(
        attempts(&history),
        [
            json!({"step_id": "tell_hr", "attempt": 1, "state": "failed", "retryable": true}),
            json!({"step_id": "tell_hr", "attempt": 2, "state": "failed", "retryable": true}),
        ]
    );
    for index in 0..2 {
        assert_eq!(
            error(&history, index),
            "webhook `hr`: no answer within 1000 ms"
        );
        // Each attempt waited out its 1 s timeout, and no more.
        assert_between(
            attempt_seconds(&history["steps"][index]),
            1.0,
            10.0,
            "an attempt against a receiver that hangs",
        );
    }
    assert_eq!(
        history["run"]["error"],
        "step `tell_hr` failed: webhook `hr`: no answer within 1000 ms"
    );
    let run = history["run"]["id"].as_i64().unwrap();
    let id = json!(format!("keystep-{run}-tell_hr"));
    assert_eq!(
        seen(&receiver),
        [(id.clone(), Json::Null), (id.clone(), Json::Null)]
    );
    assert_eq!(receiver.deliveries(), Vec::<Json>::new());
}

#[test]
fn a_400_fails_for_good_after_one_attempt() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    receiver.script(&json!({"fail": 1, "status": 400}));
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "tell_hr", "attempt": 1, "state": "failed", "retryable": false})]
    );
    assert_eq!(
        error(&history, 0),
        r#"webhook `hr` answered 400 Bad Request: {"error": "scripted failure 400"}"#
    );
    assert_eq!(receiver.attempts().len(), 1);
    assert_eq!(receiver.deliveries(), Vec::<Json>::new());
}

#[test]
fn a_wrong_secret_is_refused_by_the_receiver_and_not_retried() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    k.env("HOOK_SECRET", OTHER_SECRET);
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "tell_hr", "attempt": 1, "state": "failed", "retryable": false})]
    );
    let message = error(&history, 0);
    assert!(
        message.starts_with("webhook `hr` answered 401 Unauthorized: "),
        "{message}"
    );
    assert!(message.contains("bad signature"), "{message}");
    let run = history["run"]["id"].as_i64().unwrap();
    assert_eq!(
        seen(&receiver),
        [(json!(format!("keystep-{run}-tell_hr")), json!(401))]
    );
    assert_eq!(receiver.deliveries(), Vec::<Json>::new());
}

#[test]
fn an_unknown_webhook_name_fails_without_sending() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    k.write(
        "automations/tell-hr.yaml",
        &TELL_HR.replace("webhook: hr", "webhook: payroll"),
    );
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "tell_hr", "attempt": 1, "state": "failed", "retryable": false})]
    );
    assert_eq!(error(&history, 0), "no webhook `payroll` (configured: hr)");

    // With no webhooks configured at all.
    std::fs::remove_file(k.path().join("keystep.toml")).unwrap();
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        error(&history, 0),
        "no webhook `payroll`: keystep.toml configures none ([webhooks.payroll])"
    );
    assert_eq!(receiver.attempts(), Vec::<Json>::new());
}

#[test]
fn an_answer_over_one_mib_fails() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    // Exactly 1 MiB is accepted.
    receiver.script(&json!({"big": 1 << 20}));
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 0, "{history}");
    let pad = history["run"]["outputs"]["tell_hr"]["pad"]
        .as_str()
        .unwrap();
    assert_eq!(pad.len(), (1 << 20) - r#"{"pad": ""}"#.len());

    // One byte more is not.
    receiver.script(&json!({"big": (1 << 20) + 1}));
    let (code, history) = tell_hr(&k);
    assert_eq!(code, 1, "{history}");
    assert_eq!(history["steps"][0]["retryable"], false);
    assert_eq!(
        error(&history, 0),
        "webhook `hr`: the answer is larger than 1048576 bytes"
    );
}

#[test]
fn a_dry_run_shows_the_request_and_sends_nothing() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    let out = k.json(&[
        "run",
        "tell-hr",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    let output = &out["runs"][0]["run"]["outputs"]["tell_hr"];
    let run = out["runs"][0]["run"]["id"].as_i64().unwrap();
    assert_eq!(
        *output,
        json!({
            "dry_run": "would POST this signed payload",
            "url": receiver.url("/hook/hr"),
            "webhook_id": format!("keystep-{run}-tell_hr"),
            "payload": payload(),
        })
    );
    assert_eq!(receiver.attempts(), Vec::<Json>::new());
}
