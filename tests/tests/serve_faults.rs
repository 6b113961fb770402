//! `keystep serve` stopped in the middle of a mixed load, through the real
//! binary: 1,000 joiners each start a run that changes the directory, waits,
//! posts a signed webhook to a real receiver (`tests/servers/webhook.py`,
//! verifying with the `standardwebhooks` package) and calls a function.
//! Killed with `kill -9` several times, then started again: every run
//! finishes, no directory change is made twice, no event starts a second
//! run, and a webhook is repeated only under its own `webhook-id`. Stopped
//! with SIGTERM instead: nothing is repeated at all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use keystep_tests::serve::Serving;
use keystep_tests::{Keystep, WebhookReceiver};

const SECRET: &str = "whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=";
const RUNS: i64 = 1000;

const JOINER: &str = r#"
name: joiner
trigger: user_created
steps:
  - id: hold
    modify_user_status: { user: subject, status: disabled }
  - id: settle
    wait: { duration: 1s }
  - id: tell_hr
    run_webhook:
      webhook: hr
      payload: { event: user.joined, user: "{{ ctx.trigger.user_id }}" }
    retry: { attempts: 5, backoff: 1s }
  - id: score
    call_function: { function: risk-rust, input: { user_id: "{{ ctx.trigger.user_id }}" } }
"#;

fn setup(receiver: &WebhookReceiver) -> Keystep {
    let k = Keystep::with_examples();
    k.with_plugins(&["risk-rust"]);
    k.env("HOOK_SECRET", SECRET);
    k.write(
        "keystep.toml",
        &format!(
            "[webhooks.hr]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\ntimeout_ms = 5000\n",
            receiver.url("/hook/hr")
        ),
    );
    k.write("automations/joiner.yaml", JOINER);
    // serve's first start marks where in the event log it begins.
    drop(k.serve().signal("TERM"));
    let mut users = String::from("users:\n");
    for i in 0..RUNS {
        users.push_str(&format!(
            "  - {{ id: u-j{i}, display_name: Joiner {i}, email: j{i}@example.com, manager: u-ken }}\n"
        ));
    }
    k.write("joiners.yaml", &users);
    k.ok(&["directory", "import", "joiners.yaml"]);
    k
}

const SUCCEEDED: &str = "SELECT count(*) FROM runs WHERE state = 'succeeded'";

/// Serves until every run has succeeded.
fn finish(k: &Keystep) -> Serving {
    let serving = k.serve();
    let until = Instant::now() + Duration::from_secs(180);
    while k.count(SUCCEEDED) < RUNS {
        assert!(Instant::now() < until, "{}", serving.log().join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    serving
}

/// What every run did, checked once all have succeeded: one run per
/// event, one directory change and one function result per run, and the
/// webhook deliveries by id. Returns how many deliveries were repeats.
fn check(k: &Keystep, receiver: &WebhookReceiver) -> usize {
    assert_eq!(k.count("SELECT count(*) FROM runs"), RUNS);
    assert_eq!(k.count("SELECT count(*) FROM triggered_runs"), RUNS);
    assert_eq!(
        k.count("SELECT count(DISTINCT json_extract(trigger, '$.event.seq')) FROM runs"),
        RUNS
    );
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'user_updated' AND actor LIKE 'run %'"),
        RUNS,
        "a directory change was made twice"
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id LIKE 'u-j%' AND status = 'disabled'"),
        RUNS
    );
    assert_eq!(
        k.count(
            "SELECT count(*) FROM step_attempts WHERE step_id = 'score' AND state = 'succeeded'"
        ),
        RUNS
    );
    // Each user's deliveries all carry its run's one webhook-id.
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deliveries = receiver.deliveries();
    for d in &deliveries {
        let user = d["body"]["user"].as_str().unwrap().to_string();
        ids.entry(user)
            .or_default()
            .insert(d["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len() as i64, RUNS, "a run's webhook never arrived");
    for (user, seen) in &ids {
        assert_eq!(
            seen.len(),
            1,
            "{user}'s webhook came under several ids: {seen:?}"
        );
    }
    let distinct: BTreeSet<_> = ids.values().flatten().collect();
    assert_eq!(distinct.len() as i64, RUNS);
    deliveries.len() - RUNS as usize
}

#[test]
fn kill_9_in_a_mixed_load_loses_no_run_repeats_no_change_and_repeats_a_webhook_only_under_its_id() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    // Kill while runs are under way: some started, some delivered, not all.
    let mut landed = Vec::new();
    for progress in [50, 300, 600, 900] {
        let serving = k.serve();
        let until = Instant::now() + Duration::from_secs(120);
        while (receiver.deliveries().len() as i64) < progress && k.count(SUCCEEDED) < RUNS {
            assert!(Instant::now() < until, "{}", serving.log().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(serving.signal("KILL"));
        landed.push((
            k.count("SELECT count(*) FROM runs"),
            k.count(SUCCEEDED),
            receiver.deliveries().len(),
        ));
    }
    eprintln!("after each kill -9, (runs started, runs finished, deliveries): {landed:?}");
    assert!(
        landed.iter().any(|&(_, done, _)| done < RUNS),
        "every run had finished before a kill: {landed:?}"
    );
    drop(finish(&k));
    let repeats = check(&k, &receiver);
    eprintln!("webhook deliveries repeated after a kill, each under its own id: {repeats}");
}

#[test]
fn sigterm_in_a_mixed_load_lets_steps_in_flight_finish_and_repeats_nothing() {
    let receiver = WebhookReceiver::start(SECRET);
    let k = setup(&receiver);
    for progress in [200, 600] {
        let serving = k.serve();
        let until = Instant::now() + Duration::from_secs(120);
        while (receiver.deliveries().len() as i64) < progress {
            assert!(Instant::now() < until, "{}", serving.log().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
        let (status, log) = serving.signal("TERM");
        assert!(status.success(), "{status:?}\n{}", log.join("\n"));
        assert!(
            k.count(SUCCEEDED) < RUNS,
            "every run had finished before SIGTERM"
        );
    }
    drop(finish(&k));
    assert_eq!(check(&k, &receiver), 0, "a webhook was delivered twice");
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts WHERE attempt > 1"),
        0,
        "a step was attempted twice"
    );
}
