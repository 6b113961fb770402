//! Durability under real `kill -9` with outside effects in flight: runs
//! that call a webhook, send an email over SMTP, revoke and grant through
//! the Tracker connector and change the directory, driven by two racing
//! processes that are killed at many points, between an effect step's two
//! transactions among them, until done. Every run finishes, no directory
//! change happens twice, no step attempt is recorded twice, and every
//! effect performed again carries the key of its first performance, as the
//! receivers logged it.

use std::collections::BTreeMap;
use std::time::Duration;

use keystep_tests::crash::{self, Sweep};
use keystep_tests::{
    Keystep, SMTP_USER, SmtpServer, TRACKER_DIRECTORY, TRACKER_TOKEN, Tracker, WebhookReceiver,
};

const SECRET: &str = "whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=";
const PASSWORD: &str = "crash-smtp-password";

/// Ada, Grace and Linus have Tracker accounts already; the other three get
/// theirs from the test.
const USERS: &[&str] = &[
    "u-ada",
    "u-grace",
    "u-linus",
    "u-barbara",
    "u-ken",
    "u-dennis",
];
const NEW_ACCOUNTS: &[(&str, &str)] = &[
    ("barbara", "Barbara Liskov"),
    ("ken", "Ken Thompson"),
    ("dennis", "Dennis Ritchie"),
];

const AUTOMATION: &str = r#"
name: crashy
trigger: manual
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
  - id: hook
    run_webhook: { webhook: hr, payload: { user: "{{ ctx.trigger.user_id }}" } }
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all }
  - id: mail
    send_email: { to: [subject], subject: Access removed, message: Goodbye. }
  - id: pause
    wait: { duration: 300ms }
  - id: grant
    grant_entitlements: { user: subject, entitlements: [tracker:viewers] }
  - id: inactive
    modify_user_status: { user: subject, status: inactive }
"#;
const STEPS: i64 = 7;
/// The steps with an outside effect.
const EFFECTS: &[&str] = &["hook", "revoke", "mail", "grant"];

const SIGKILL: i32 = 9;

/// Where a `kill -9` landed, from the last mark of the test hook on the
/// killed process's stderr (`in`, `out` or `performing` and the actor
/// `run ID/STEP/ATTEMPT`).
#[derive(Debug, PartialEq)]
enum Landing {
    BeforeAnyStep,
    /// Inside a transaction of this step.
    InStep(String),
    /// Between this effect step's two transactions: the effect under way.
    Performing(String),
    /// After a transaction, before the next one.
    BetweenSteps,
}

fn landing(stderr: &str) -> Landing {
    let last = keystep_tests::crash::hook_marks(stderr).next_back();
    let step = |actor: &str| {
        let step = actor.split('/').nth(1).expect("run ID/STEP/ATTEMPT");
        step.to_string()
    };
    match last.and_then(|m| m.split_once(' ')) {
        None => Landing::BeforeAnyStep,
        Some(("in", actor)) => Landing::InStep(step(actor)),
        Some(("performing", actor)) => Landing::Performing(step(actor)),
        Some(("out", _)) => Landing::BetweenSteps,
        Some(other) => panic!("unknown test-hook mark {other:?}"),
    }
}

/// The effect steps under way when the process died: those whose last
/// mark was `performing` (the effect after its first transaction, before
/// its settle transaction), one entry per run.
fn in_flight(stderr: &str) -> Vec<String> {
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for mark in keystep_tests::crash::hook_marks(stderr) {
        if let Some((what, actor)) = mark.split_once(' ') {
            last.insert(actor, what);
        }
    }
    last.into_iter()
        .filter(|(_, what)| *what == "performing")
        .map(|(actor, _)| actor.split('/').nth(1).unwrap().to_string())
        .collect()
}

/// A killed process: where the kill landed, and the effects in flight.
struct Killed {
    landing: Landing,
    in_flight: Vec<String>,
}

/// Kills `child` with SIGKILL unless it has ended; where the kill landed,
/// or `None` if it ended by itself (which must be a success).
fn kill_9(mut child: std::process::Child) -> Option<Killed> {
    use std::os::unix::process::ExitStatusExt;
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.signal() {
        Some(SIGKILL) => Some(Killed {
            landing: landing(&stderr),
            in_flight: in_flight(&stderr),
        }),
        Some(other) => panic!("resume died of signal {other}, not our SIGKILL:\n{stderr}"),
        None => {
            assert!(
                out.status.success(),
                "resume failed: {:?}\n{stderr}",
                out.status
            );
            None
        }
    }
}

/// The tracker directory with three more users, the tracker connector,
/// webhook `hr` at `hooks` and `[smtp]` at `smtp` (plain TCP).
fn setup(tracker: &Tracker, hooks: &WebhookReceiver, smtp: &SmtpServer) -> Keystep {
    let k = Keystep::new();
    let more: String = NEW_ACCOUNTS
        .iter()
        .map(|(login, name)| {
            format!(
                "  - {{ id: u-{login}, display_name: {name}, email: {login}@example.com, \
                 username: {login}, manager: u-owner }}\n"
            )
        })
        .collect();
    k.write(
        "directory.yaml",
        &TRACKER_DIRECTORY.replace("apps:\n", &format!("{more}apps:\n")),
    );
    k.ok(&["directory", "import", "directory.yaml"]);
    for (login, name) in NEW_ACCOUNTS {
        tracker.add_user(TRACKER_TOKEN, login, name);
    }
    k.with_plugins(&["tracker"]);
    k.write("plugins/tracker.toml", &tracker.grants("TRACKER_TOKEN"));
    k.env("TRACKER_TOKEN", TRACKER_TOKEN);
    let plugins = std::fs::read_to_string(k.path().join("keystep.toml")).unwrap();
    k.write(
        "keystep.toml",
        &format!(
            "{plugins}[webhooks.hr]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\ntimeout_ms = 10000\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nuser = \"{SMTP_USER}\"\n\
             password = \"env:SMTP_PASSWORD\"\nfrom = \"keystep@example.com\"\ntimeout_ms = 10000\n",
            hooks.url("/hook/hr"),
            smtp.port()
        ),
    );
    k.env("HOOK_SECRET", SECRET);
    k.env("SMTP_PASSWORD", PASSWORD);
    k.write("automations/crashy.yaml", AUTOMATION);
    k
}

/// Kills two racing `runs resume` processes at delays sweeping 5 to 650 ms
/// (a process loads the connector first) until every run has ended (after
/// 80 kills they are let finish); where the kills landed.
fn crash_until_done(k: &Keystep) -> Vec<Killed> {
    let sweep = Sweep {
        from_ms: 5,
        to_ms: 650,
        step_ms: 45,
        kills: 80,
        deadline: Duration::from_secs(300),
    };
    crash::crash_until_done(k, &sweep, kill_9)
}

/// How many of `items` fall in each key, keys sorted.
fn tally<K: Ord>(items: impl IntoIterator<Item = K>) -> BTreeMap<K, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

/// The idempotency key the store recorded for each (run, step): one
/// attempt each, so one key.
fn recorded_keys(k: &Keystep) -> BTreeMap<(i64, String), String> {
    let db = k.db();
    let mut stmt = db
        .prepare("SELECT run_id, step_id, idempotency_key FROM step_attempts WHERE idempotency_key IS NOT NULL")
        .unwrap();
    stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The run id of each user's run.
fn run_of(k: &Keystep, user: &str) -> i64 {
    k.count(&format!("SELECT id FROM runs WHERE subject_id = '{user}'"))
}

/// The value of header `name` in a raw message.
fn header(data: &str, name: &str) -> String {
    let unfolded = data.replace("\r\n", "\n").replace("\n ", " ");
    unfolded
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} header in {data}"))
}

#[test]
fn kill_9_with_effects_in_flight_repeats_no_change_and_replays_each_effect_with_its_key() {
    let tracker = Tracker::start();
    let hooks = WebhookReceiver::start(SECRET);
    let smtp = SmtpServer::start("plain", PASSWORD, &[]);
    let k = setup(&tracker, &hooks, &smtp);
    let held: Vec<i64> = USERS
        .iter()
        .map(|u| {
            k.count(&format!(
                "SELECT count(*) FROM grants WHERE user_id = '{u}'"
            ))
        })
        .collect();
    for user in USERS {
        k.detach("crashy", user);
    }

    let kills = crash_until_done(&k);
    let landings: Vec<&Landing> = kills.iter().map(|k| &k.landing).collect();
    let last_performing = landings
        .iter()
        .filter(|l| matches!(l, Landing::Performing(_)))
        .count();
    let inside = tally(landings.iter().filter_map(|l| match l {
        Landing::InStep(step) => Some(step.as_str()),
        _ => None,
    }));
    let between = landings
        .iter()
        .filter(|l| ***l == Landing::BetweenSteps)
        .count();
    let before = landings
        .iter()
        .filter(|l| ***l == Landing::BeforeAnyStep)
        .count();
    // Kills with at least one effect under way, and which effects.
    let in_flight = kills.iter().filter(|k| !k.in_flight.is_empty()).count();
    let effects_cut = tally(
        kills
            .iter()
            .flat_map(|k| k.in_flight.iter().map(String::as_str)),
    );
    let inside_effects: usize = EFFECTS.iter().filter_map(|s| inside.get(s)).sum();

    // What the receivers got, per (run, step): deliveries and their keys.
    let webhooks = tally(
        hooks
            .deliveries()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string()),
    );
    let mails: Vec<(String, String)> = smtp
        .messages()
        .iter()
        .map(|m| {
            let data = m["data"].as_str().unwrap();
            (header(data, "to"), header(data, "message-id"))
        })
        .collect();
    let changes: Vec<(String, String, String)> = tracker
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("/members/"))
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or("").to_string();
            (text("method"), text("path"), text("idempotency_key"))
        })
        .collect();
    let replayed = webhooks.values().map(|n| n - 1).sum::<usize>()
        + mails.len().saturating_sub(USERS.len())
        + changes
            .len()
            .saturating_sub(tally(changes.iter().map(|c| (&c.0, &c.1))).len());
    eprintln!(
        "{} kill -9s: {in_flight} with effects under way {effects_cut:?} ({last_performing} \
         last marked performing), {} inside a step's transaction {inside:?}, {between} between \
         steps, {before} before any step; {} webhook deliveries, {} emails, {} Tracker \
         changes; {replayed} effects performed again",
        kills.len(),
        inside.values().sum::<usize>(),
        webhooks.values().sum::<usize>(),
        mails.len(),
        changes.len(),
    );
    assert!(
        in_flight >= 5 && effects_cut.len() >= 2 && inside_effects >= 2,
        "too few kills landed where they matter: {landings:?}"
    );

    // Every run finished, each step once, succeeded.
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'succeeded'"),
        USERS.len() as i64
    );
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts"),
        USERS.len() as i64 * STEPS
    );
    assert_eq!(
        k.count("SELECT count(*) FROM step_attempts WHERE state != 'succeeded'"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM (SELECT run_id, step_index FROM step_attempts GROUP BY 1, 2 HAVING count(*) > 1)"),
        0
    );

    // Every performance of an effect carried the key of its one attempt.
    let keys = recorded_keys(&k);
    for (user, held) in USERS.iter().zip(&held) {
        let run = run_of(&k, user);
        let key = |step: &str| {
            keys.get(&(run, step.to_string()))
                .unwrap_or_else(|| panic!("run {run} has no key for {step}: {keys:?}"))
                .clone()
        };
        // The webhook: `keystep-RUN-STEP`, delivered at least once.
        let id = format!("keystep-{run}-hook");
        assert!(
            webhooks.get(&id).is_some_and(|n| *n >= 1),
            "{id}: {webhooks:?}"
        );
        // The email: every copy with the Message-ID of the attempt's key.
        let to = format!("{}@example.com", user.trim_start_matches("u-"));
        let ids: Vec<&String> = mails
            .iter()
            .filter(|(t, _)| t.contains(&to))
            .map(|(_, id)| id)
            .collect();
        let want = format!("<{}@keystep>", key("mail").replace('/', "."));
        assert!(
            !ids.is_empty() && ids.iter().all(|id| **id == want),
            "{to}: {ids:?}, want {want}"
        );
        // Tracker: each change with the key of its attempt and entitlement.
        let login = user.trim_start_matches("u-");
        for (step, method) in [("revoke", "DELETE"), ("grant", "PUT")] {
            let mine: Vec<&(String, String, String)> = changes
                .iter()
                .filter(|c| c.0 == method && c.1.ends_with(&format!("/members/{login}")))
                .collect();
            for (_, path, sent) in &mine {
                let group = path.split('/').nth(3).unwrap();
                assert_eq!(
                    *sent,
                    format!("{}/tracker:{group}", key(step)),
                    "{method} {path}"
                );
            }
            let groups = tally(mine.iter().map(|c| &c.1)).len() as i64;
            let want = if step == "revoke" { *held } else { 1 };
            assert_eq!(groups, want, "{user} {step}: {mine:?}");
        }
    }
    let deliveries: usize = webhooks.values().sum();
    assert!(
        deliveries >= USERS.len() && webhooks.len() == USERS.len(),
        "{webhooks:?}"
    );

    // No directory change happened twice.
    crash::assert_no_change_twice(&k, USERS, &held);
    for user in USERS {
        let q = |sql: &str| k.count(&sql.replace("$U", user));
        assert_eq!(
            q("SELECT count(*) FROM grants WHERE user_id = '$U'"),
            1,
            "{user} holds tracker:viewers alone"
        );
    }
    // Tracker agrees with the directory.
    assert_eq!(tracker.members("admin"), Vec::<String>::new());
    assert_eq!(tracker.members("developers"), Vec::<String>::new());
    let mut viewers = tracker.members("viewers");
    viewers.sort();
    assert_eq!(
        viewers,
        ["ada", "barbara", "dennis", "grace", "ken", "linus"]
    );
}
