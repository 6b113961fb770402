//! Many runs in flight at once, through the real binary: a webhook whose
//! receiver takes 5 s holds no other run of the same process, and three
//! processes moving 300 runs on one store neither lock each other out nor
//! take a step twice.

use keystep_tests::{Keystep, WebhookReceiver, finish, seconds_between, unix_seconds};
use serde_json::{Value as Json, json};

/// The signing secret of both receivers.
const SECRET: &str = "whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=";

/// How long the slow receiver takes to answer, in ms.
const SLOW_MS: u64 = 5000;

/// One webhook to the slow receiver.
const SLOW: &str = r#"
name: slow
trigger: manual
steps:
  - id: call
    run_webhook: { webhook: slow, payload: { user: "{{ ctx.trigger.user_id }}" } }
"#;

/// A webhook, a directory change, and an email (to the outbox).
const NOTIFY: &str = r#"
name: notify
trigger: manual
steps:
  - id: call
    run_webhook: { webhook: fast, payload: { user: "{{ ctx.trigger.user_id }}" } }
  - id: delegate
    modify_delegate: { user: subject, replacement: u-grace }
  - id: mail
    send_email: { to: [subject], subject: Bye, message: "Goodbye {{ ctx.trigger.user.display_name }}." }
"#;

/// Directory changes only.
const LOCAL: &str = r#"
name: local
trigger: manual
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
  - id: delegate
    modify_delegate: { user: subject, replacement: u-grace }
"#;

/// Users of the example directory the runs are about, in turn.
const USERS: &[&str] = &[
    "u-ada",
    "u-linus",
    "u-barbara",
    "u-whit",
    "u-dennis",
    "u-john",
    "u-ken",
    "u-frances",
    "u-alan",
];

/// The example directory and the three automations, webhook `slow` and
/// `fast` at the receivers (`slow` allowed 30 s).
fn setup(fast: &WebhookReceiver, slow: Option<&WebhookReceiver>) -> Keystep {
    let k = Keystep::with_examples();
    let mut config = format!(
        "[webhooks.fast]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\ntimeout_ms = 30000\n",
        fast.url("/hook/fast")
    );
    if let Some(slow) = slow {
        config += &format!(
            "[webhooks.slow]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\ntimeout_ms = 30000\n",
            slow.url("/hook/slow")
        );
        k.write("automations/slow.yaml", SLOW);
    }
    k.write("keystep.toml", &config);
    k.write("automations/notify.yaml", NOTIFY);
    k.write("automations/local.yaml", LOCAL);
    k.env("HOOK_SECRET", SECRET);
    k
}

/// `(id, automation, state, finished_at)` of every run.
fn runs(k: &Keystep) -> Vec<(i64, String, String, Option<String>)> {
    let db = k.db();
    let mut stmt = db
        .prepare("SELECT id, automation, state, finished_at FROM runs ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn float(v: &Json) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_slow_receiver_holds_no_other_run() {
    let fast = WebhookReceiver::start(SECRET);
    let slow = WebhookReceiver::start(SECRET);
    slow.script(&json!({"slow": 1, "delay_ms": SLOW_MS}));
    let k = setup(&fast, Some(&slow));
    // The slow run first, then 200 others (half with a webhook and an
    // email, half directory steps only), all moved by one process at once.
    let slow_run = k.detach("slow", "u-ada");
    for i in 0..200 {
        let automation = if i % 2 == 0 { "notify" } else { "local" };
        k.detach(automation, USERS[i % USERS.len()]);
    }
    k.ok(&["runs", "resume"]);

    let slow_attempt = &k.show(slow_run)["steps"][0];
    assert_eq!(slow_attempt["state"], "succeeded", "{slow_attempt}");
    let started = slow_attempt["started_at"].as_str().unwrap().to_string();
    let delivery = &slow.deliveries()[0];
    let (received, answered) = (
        float(&delivery["received_at"]),
        float(&delivery["answered_at"]),
    );
    assert!(answered - received >= SLOW_MS as f64 / 1000.0, "{delivery}");

    let others: Vec<_> = runs(&k).into_iter().filter(|r| r.0 != slow_run).collect();
    assert_eq!(others.len(), 200);
    let mut finished = Vec::new();
    for (id, automation, state, at) in &others {
        assert_eq!(state, "succeeded", "run {id} ({automation})");
        finished.push(at.clone().unwrap());
    }
    finished.sort();
    let (first, last) = (&finished[0], &finished[199]);
    eprintln!(
        "slow call: attempt started {started}, received at +{:.3} s, answered at +{:.3} s; \
         200 other runs finished between +{:.3} s and +{:.3} s",
        received - unix_seconds(&started),
        answered - unix_seconds(&started),
        seconds_between(&started, first),
        seconds_between(&started, last),
    );
    // All 200 finished while the slow delivery was waiting: after it
    // reached the receiver (the last of them) and before it was answered,
    // within the 5 s the receiver took.
    assert!(
        unix_seconds(last) < answered,
        "the last other run finished at {last}, after the slow answer ({answered})"
    );
    assert!(
        seconds_between(&started, last) < SLOW_MS as f64 / 1000.0,
        "the last other run finished {} s after the slow attempt started",
        seconds_between(&started, last)
    );
    assert!(
        unix_seconds(last) > received,
        "every other run finished before the slow call went out: nothing overlapped it"
    );
    assert_eq!(fast.deliveries().len(), 100);
}

/// The deliveries for each webhook-id the receiver saw, ids sorted.
fn per_id(receiver: &WebhookReceiver) -> Vec<(String, usize)> {
    let mut ids: Vec<String> = receiver
        .attempts()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for id in ids {
        match counted.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => counted.push((id, 1)),
        }
    }
    counted
}

#[test]
fn three_processes_share_one_store_without_locking_or_repeating() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver, None);
    // 299 runs waiting, two of every three with a webhook and an email;
    // the 300th is started by `keystep run` beside two `runs resume`.
    let automation = |i: usize| if i % 3 == 2 { "local" } else { "notify" };
    for i in 0..299 {
        k.detach(automation(i), USERS[i % USERS.len()]);
    }
    let input = format!(r#"{{"user_id": "{}"}}"#, USERS[299 % USERS.len()]);
    let children = vec![
        k.spawn(&["runs", "resume"]),
        k.spawn(&["runs", "resume"]),
        k.spawn(&["run", automation(299), "--input", &input]),
    ];
    let ran: Vec<_> = children.into_iter().map(finish).collect();
    let mut moved = Vec::new();
    for r in &ran {
        for text in [&r.stdout, &r.stderr] {
            assert!(!text.to_lowercase().contains("database is locked"), "{r:?}");
        }
        assert_eq!(r.code, 0, "{r:?}");
        moved.push(r.stdout.lines().filter(|l| l.starts_with("✓ run")).count());
    }
    eprintln!("runs each process finished (resume, resume, run): {moved:?}");

    let all = runs(&k);
    assert_eq!(all.len(), 300);
    for (id, automation, state, _) in &all {
        assert_eq!(state, "succeeded", "run {id} ({automation})");
    }
    let notify = all.iter().filter(|r| r.1 == "notify").count() as i64;
    assert_eq!(notify, 200);
    // Every step once, succeeded: 3 steps of each notify run, 2 of each local.
    assert_eq!(
        k.count("SELECT count(*) FROM (SELECT run_id, step_index FROM step_attempts GROUP BY 1, 2 HAVING count(*) > 1)"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts WHERE state = 'succeeded'"),
        notify * 3 + (300 - notify) * 2
    );
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts"),
        notify * 3 + (300 - notify) * 2
    );
    // Each webhook delivered once, to its own id; each email written once.
    let ids = per_id(&receiver);
    assert_eq!(ids.len() as i64, notify);
    assert!(ids.iter().all(|(_, n)| *n == 1), "{ids:?}");
    assert_eq!(receiver.deliveries().len() as i64, notify);
    let outbox = std::fs::read_dir(k.path().join(".keystep/outbox"))
        .unwrap()
        .count();
    assert_eq!(outbox as i64, notify);
}
