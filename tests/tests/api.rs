//! `keystep serve`'s HTTP API through the real binary over real HTTP:
//! bearer tokens and their scopes, starting runs (with `?wait`), reading,
//! listing and cancelling them, errors in the API's shape, and incoming
//! webhooks verified per Standard Webhooks (signed here by Python's own
//! `hmac`, not by keystep's code).

use std::process::Command;

use keystep_tests::Keystep;
use keystep_tests::serve::{Answer, Serving};

const OPERATE: &str = "op-3f9a1c7e5b2d4068aa";
const READ: &str = "rd-81c4e2a9f0b3d7566c";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const CONFIG: &str = r#"
[[serve.tokens]]
name = "ops"
scope = "operate"
secret = "env:KS_TEST_OPERATE"

[[serve.tokens]]
name = "viewer"
scope = "read"
secret = "file:viewer.token"
"#;

const PAUSE: &str = r#"
name: pause
trigger: manual
steps:
  - id: hold
    modify_user_status: { user: subject, status: disabled }
  - id: pause
    wait: { duration: 1h }
"#;

const QUICK: &str = r#"
name: quick
trigger: manual
steps:
  - id: hand_over
    modify_delegate: { user: subject, replacement: "{{ ctx.trigger.user.manager_id }}" }
output:
  delegate: "{{ ctx.hand_over.replacement }}"
"#;

const HOOKED: &str = r#"
name: hooked
trigger:
  webhook: { secret: "env:KS_TEST_HOOK" }
steps:
  - id: hold
    modify_user_status: { user: "{{ ctx.trigger.user_id }}", status: disabled }
"#;

fn served() -> (Keystep, Serving) {
    let k = Keystep::with_examples();
    k.env("KS_TEST_OPERATE", OPERATE)
        .env("KS_TEST_HOOK", SECRET);
    k.write("keystep.toml", CONFIG);
    k.write("viewer.token", &format!("{READ}\n"));
    k.write("automations/pause.yaml", PAUSE);
    k.write("automations/quick.yaml", QUICK);
    k.write("automations/hooked.yaml", HOOKED);
    let serving = k.serve_api();
    (k, serving)
}

fn code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or("")
}

/// Asserts that `answer` is an error with `status` and `code`.
fn refused(answer: &Answer, status: u16, expected: &str) {
    assert_eq!(
        (answer.status, code(answer)),
        (status, expected),
        "{answer:?}"
    );
}

#[test]
fn tokens_decide_who_may_read_and_who_may_operate() {
    let (_k, s) = served();
    let none = s.request("GET", "/v1/runs", &[], "");
    refused(&none, 401, "unauthorized");
    let wrong = s.call("GET", "/v1/runs", "rd-81c4e2a9f0b3d7566d", "");
    refused(&wrong, 401, "unauthorized");
    let read = s.call("GET", "/v1/runs", READ, "");
    assert_eq!(read.status, 200, "{read:?}");
    let start = s.call(
        "POST",
        "/v1/automations/quick/runs",
        READ,
        r#"{"user_id": "u-ada"}"#,
    );
    refused(&start, 403, "forbidden");
    assert_eq!(
        s.call("GET", "/v1/runs", READ, "").body["runs"],
        serde_json::json!([])
    );
    let started = s.call(
        "POST",
        "/v1/automations/quick/runs",
        OPERATE,
        r#"{"user_id": "u-ada"}"#,
    );
    assert_eq!(started.status, 202, "{started:?}");
    assert_eq!(s.request("GET", "/healthz", &[], "").status, 200);
    assert_eq!(s.request("GET", "/readyz", &[], "").status, 200);
    let (_, log) = s.signal("TERM");
    let log = log.join("\n");
    assert!(
        !log.contains(OPERATE) && !log.contains(READ),
        "a token in the log:\n{log}"
    );
}

#[test]
fn a_run_started_with_wait_answers_with_the_finished_run_and_runs_are_listed_read_and_cancelled() {
    let (_k, s) = served();
    let done = s.call(
        "POST",
        "/v1/automations/quick/runs?wait=20s",
        OPERATE,
        r#"{"user_id": "u-ada"}"#,
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["run"]["state"], "succeeded");
    assert_eq!(done.body["steps"][0]["input"]["replacement"], "u-ken");
    assert_eq!(
        done.body["run"]["output"],
        serde_json::json!({"delegate": "u-ken"})
    );
    let id = done.body["run"]["id"].as_i64().unwrap();
    let shown = s.call("GET", &format!("/v1/runs/{id}"), READ, "");
    assert_eq!(shown.body["run"]["outputs"], done.body["run"]["outputs"]);

    // A run that waits: ?wait gives up and answers 202; cancel ends it.
    let waiting = s.call(
        "POST",
        "/v1/automations/pause/runs?wait=1s",
        OPERATE,
        r#"{"user_id": "u-linus"}"#,
    );
    assert_eq!(waiting.status, 202, "{waiting:?}");
    let paused = waiting.body["run_id"].as_i64().unwrap();
    for user in ["u-barbara", "u-whit", "u-dennis"] {
        let input = format!(r#"{{"user_id": "{user}"}}"#);
        assert_eq!(
            s.call("POST", "/v1/automations/quick/runs", OPERATE, &input)
                .status,
            202
        );
    }
    // Newest first, two a page, following `next`.
    let mut seen = Vec::new();
    let mut path = "/v1/runs?automation=quick&limit=2".to_string();
    loop {
        let page = s.call("GET", &path, READ, "");
        assert_eq!(page.status, 200, "{page:?}");
        seen.extend(
            page.body["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match page.body["next"].as_i64() {
            Some(next) => path = format!("/v1/runs?automation=quick&limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    let about = s.call("GET", "/v1/runs?subject=u-linus", READ, "");
    assert_eq!(about.body["runs"][0]["id"], paused);

    // What the process saw, for Prometheus (a read token).
    refused(&s.request("GET", "/metrics", &[], ""), 401, "unauthorized");
    let scraped = s.call("GET", "/metrics", READ, "");
    assert_eq!(scraped.status, 200, "{scraped:?}");
    let text = scraped.body.as_str().unwrap();
    for line in [
        "# TYPE keystep_step_seconds histogram",
        "keystep_runs{automation=\"pause\",state=\"waiting\"} 1",
        "keystep_step_attempts_total{type=\"modify_delegate\",state=\"succeeded\"}",
        "keystep_step_seconds_bucket{type=\"modify_delegate\",le=\"+Inf\"}",
        "keystep_runs_due ",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }

    let cancelled = s.call(
        "POST",
        &format!("/v1/runs/{paused}/cancel"),
        OPERATE,
        r#"{"reason": "left early"}"#,
    );
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["state"], "cancelled");
    assert!(
        cancelled.body["error"]
            .as_str()
            .unwrap()
            .contains("left early (by API token ops)")
    );
    let again = s.call(
        "POST",
        &format!("/v1/runs/{paused}/cancel"),
        OPERATE,
        r#"{"reason": "x"}"#,
    );
    refused(&again, 409, "conflict");
}

#[test]
fn bad_requests_are_answered_with_a_code_and_where() {
    let (k, s) = served();
    let bad = s.call(
        "POST",
        "/v1/automations/quick/runs",
        OPERATE,
        "{\"user_id\": \n  \"u-ada\",}",
    );
    refused(&bad, 400, "bad_json");
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2 column"),
        "{bad:?}"
    );
    let unknown = s.call("GET", "/v1/runs?colour=red", READ, "");
    refused(&unknown, 400, "bad_input");
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let field = s.call(
        "POST",
        "/v1/runs/1/cancel",
        OPERATE,
        r#"{"reason": "x", "force": true}"#,
    );
    refused(&field, 400, "bad_input");
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(2 << 20));
    let large = s.call("POST", "/v1/automations/quick/runs", OPERATE, &big);
    refused(&large, 413, "too_large");
    let missing = s.call("POST", "/v1/automations/nope/runs", OPERATE, "{}");
    refused(&missing, 404, "not_found");
    let ghost = s.call(
        "POST",
        "/v1/automations/quick/runs",
        OPERATE,
        r#"{"user_id": "u-ghost"}"#,
    );
    refused(&ghost, 422, "unknown_subject");
    let no_run = s.call("GET", "/v1/runs/99", READ, "");
    refused(&no_run, 404, "not_found");
    let not_a_number = s.call("GET", "/v1/runs/abc", READ, "");
    refused(&not_a_number, 400, "bad_input");
    assert_eq!(
        k.count("SELECT count(*) FROM runs"),
        0,
        "no bad request started a run"
    );
}

/// `v1,<signature>` of `body` as message `id` at `timestamp`, by Python.
fn python_sign(id: &str, timestamp: i64, body: &str) -> String {
    let script = "import base64, hashlib, hmac, sys\n\
        key = base64.b64decode(sys.argv[1].removeprefix('whsec_'))\n\
        msg = f'{sys.argv[2]}.{sys.argv[3]}.{sys.argv[4]}'.encode()\n\
        print('v1,' + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())";
    let out = Command::new("python3")
        .args(["-c", script, SECRET, id, &timestamp.to_string(), body])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hook(s: &Serving, id: &str, timestamp: i64, signature: &str, body: &str) -> Answer {
    let headers = [
        format!("webhook-id: {id}"),
        format!("webhook-timestamp: {timestamp}"),
        format!("webhook-signature: {signature}"),
    ];
    s.request("POST", "/v1/hooks/hooked", &headers, body)
}

#[test]
fn a_signed_webhook_starts_a_run_and_a_forged_stale_or_replayed_one_starts_nothing() {
    let (k, s) = served();
    let body = r#"{"user_id": "u-ada", "reason": "hr-system said so"}"#;
    let t = now();
    let good = python_sign("msg_1", t, body);
    let started = hook(&s, "msg_1", t, &good, body);
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["run_id"].as_i64().unwrap();
    s.wait_for(
        &format!("run {id} (hooked) succeeded"),
        std::time::Duration::from_secs(30),
    );
    let run = k.show(id);
    assert_eq!(run["run"]["trigger"]["reason"], "hr-system said so");
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "disabled"
    );

    let forged = hook(
        &s,
        "msg_2",
        t,
        &python_sign("msg_2", t, r#"{"user_id": "u-ken"}"#),
        body,
    );
    refused(&forged, 401, "bad_signature");
    let old = t - 600;
    let stale = hook(&s, "msg_3", old, &python_sign("msg_3", old, body), body);
    refused(&stale, 400, "stale_timestamp");
    let replayed = hook(&s, "msg_1", t, &good, body);
    refused(&replayed, 409, "replayed");
    let unsigned = s.request("POST", "/v1/hooks/hooked", &[], body);
    assert_eq!(unsigned.status, 400, "{unsigned:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        k.count("SELECT count(*) FROM runs"),
        1,
        "only the good message started a run"
    );
    // The forged message named u-ken: nothing reached him.
    assert_eq!(
        k.json(&["directory", "show", "u-ken"])["user"]["status"],
        "active"
    );
}

#[test]
fn users_are_read_with_their_grants_and_tasks_are_listed_and_completed() {
    let (k, s) = served();
    let ada = s.call("GET", "/v1/users/u-ada", READ, "");
    assert_eq!(ada.status, 200, "{ada:?}");
    assert_eq!(ada.body["user"]["display_name"], "Ada Lovelace");
    assert!(
        !ada.body["grants"].as_array().unwrap().is_empty(),
        "{ada:?}"
    );
    refused(
        &s.call("GET", "/v1/users/u-ghost", READ, ""),
        404,
        "not_found",
    );

    // Onboarding opens grant tasks for Alan.
    k.start("onboarding", "u-alan");
    let open = s.call("GET", "/v1/tasks?subject=u-alan", READ, "");
    assert_eq!(open.status, 200, "{open:?}");
    let tasks = open.body["tasks"].as_array().unwrap();
    assert!(!tasks.is_empty(), "{open:?}");
    let id = tasks[0]["id"].as_i64().unwrap();
    let path = format!("/v1/tasks/{id}/complete");
    refused(&s.call("POST", &path, READ, ""), 403, "forbidden");
    let done = s.call("POST", &path, OPERATE, "");
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["state"], "completed");
    refused(&s.call("POST", &path, OPERATE, ""), 422, "invalid");
    let left = s.call("GET", "/v1/tasks?subject=u-alan", READ, "");
    assert_eq!(
        left.body["tasks"].as_array().unwrap().len(),
        tasks.len() - 1
    );
    let all = s.call("GET", "/v1/tasks?subject=u-alan&state=all", READ, "");
    assert_eq!(all.body["tasks"].as_array().unwrap().len(), tasks.len());
    // The change is the token holder's, in the event log.
    assert!(k.count("SELECT count(*) FROM events WHERE actor = 'api token ops'") >= 1);
}

#[test]
fn automations_are_listed_with_their_validation_state() {
    let (k, s) = served();
    let listed = |s: &Serving| {
        let answer = s.call("GET", "/v1/automations", READ, "");
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["automations"].as_array().unwrap().clone()
    };
    let file = |all: &[serde_json::Value], name: &str| {
        all.iter()
            .find(|a| a["file"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no {name} in {all:?}"))
            .clone()
    };
    let quick = file(&listed(&s), "quick.yaml");
    assert_eq!(quick["name"], "quick");
    assert_eq!(quick["trigger"], "manual");
    assert_eq!(quick["valid"], true);
    assert!(quick["problem"].is_null());
    // One file broken after it loaded, one that never loaded.
    k.write(
        "automations/quick.yaml",
        &QUICK.replace("hand_over", "Hand Over"),
    );
    k.write("automations/broken.yaml", "name: broken\ntrigger: manual\n");
    s.wait_for(
        "broken.yaml does not load",
        std::time::Duration::from_secs(10),
    );
    s.wait_for(
        "quick.yaml does not load",
        std::time::Duration::from_secs(10),
    );
    let all = listed(&s);
    let quick = file(&all, "quick.yaml");
    assert_eq!(
        (quick["valid"].clone(), quick["name"].clone()),
        (serde_json::json!(false), serde_json::json!("quick")),
        "its last good version serves: {quick}"
    );
    assert!(
        quick["problem"].as_str().unwrap().contains("quick.yaml:"),
        "{quick}"
    );
    let broken = file(&all, "broken.yaml");
    assert_eq!(broken["valid"], false);
    assert!(broken["name"].is_null(), "{broken}");
    assert!(
        broken["problem"]
            .as_str()
            .unwrap()
            .contains("missing `steps`"),
        "{broken}"
    );
}
