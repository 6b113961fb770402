//! Engine benchmarks through the real library and the real SQLite store:
//!
//! 1. durable step transitions per second (six directory-only steps per run),
//!    against a baseline of bare SQLite write transactions;
//! 2. memory of runs parked on a 30-day `wait`.
//!
//! `cargo bench -p keystep --bench engine`; `KEYSTEP_BENCH_QUICK=1` (or
//! `--quick`) shrinks every size tenfold for a smoke run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keystep::automation::{Automation, catalog::Catalog, parse};
use keystep::directory::import::{self, DirectoryFile};
use keystep::engine::{Engine, Idle, Quiet};
use keystep::store::Store;
use serde_json::{Value as Json, json};

const STEPS: usize = 6;

const OFFBOARD: &str = r#"name: bench-offboard
trigger: manual
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all, exclude: ["okta:user"] }
  - id: profiles
    remove_access_profiles: { user: subject, profiles: all }
  - id: delegates
    modify_delegate: { user: subject, replacement: "{{ ctx.trigger.user.manager_id }}" }
  - id: cancel_grants
    perform_task_action: { user: subject, relation: subject, task_types: [grant], action: cancel }
  - id: deactivate
    modify_user_status: { user: subject, status: inactive }
"#;

const PARKED: &str = r#"name: bench-parked
trigger: manual
steps:
  - id: pause
    wait: { duration: 30d }
  - id: after
    modify_user_status: { user: subject, status: inactive }
"#;

struct Sizes {
    users: usize,
    reps: usize,
    waiting: usize,
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::var("KEYSTEP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            users: 200,
            reps: 3,
            waiting: 10_000,
        }
    } else {
        Sizes {
            users: 2_000,
            reps: 5,
            waiting: 100_000,
        }
    };
    println!(
        "keystep engine bench ({} mode)",
        if quick { "quick" } else { "full" }
    );
    let transitions = sizes.users * STEPS;

    let mut engine_times = Vec::new();
    for rep in 1..=sizes.reps {
        let (start, drive) = transitions_once(sizes.users)?;
        println!(
            "  engine rep {rep}: {} runs started in {:.3}s, {transitions} transitions driven in {:.3}s = {:.0}/s",
            sizes.users,
            start.as_secs_f64(),
            drive.as_secs_f64(),
            rate(transitions, drive)
        );
        engine_times.push(drive);
    }
    let mut bare_times = Vec::new();
    for rep in 1..=sizes.reps {
        let t = bare_transactions(transitions)?;
        println!(
            "  bare   rep {rep}: {transitions} transactions in {:.3}s = {:.0}/s",
            t.as_secs_f64(),
            rate(transitions, t)
        );
        bare_times.push(t);
    }
    let (rss_before, rss_after, park_start, park_drive) = parked_runs(sizes.waiting)?;

    let engine = Stats::of(&mut engine_times, transitions);
    let bare = Stats::of(&mut bare_times, transitions);
    let ratio = engine.median.as_secs_f64() / bare.median.as_secs_f64();
    let added_mb = (rss_after as f64 - rss_before as f64) / 1024.0;
    println!();
    println!(
        "summary ({} runs x {STEPS} steps = {transitions} transitions, {} reps, medians)",
        sizes.users, sizes.reps
    );
    println!(
        "  {:<38} {:>10} {:>10} {:>10}",
        "measure", "median", "min", "max"
    );
    println!(
        "  {:<38} {:>10.0} {:>10.0} {:>10.0}",
        "engine transitions/s", engine.rate_median, engine.rate_min, engine.rate_max
    );
    println!(
        "  {:<38} {:>10.0} {:>10.0} {:>10.0}",
        "bare SQLite write transactions/s", bare.rate_median, bare.rate_min, bare.rate_max
    );
    println!(
        "  {:<38} {:>10.1}",
        "engine transition / bare transaction", ratio
    );
    println!("  {:<38} {:>10}", "target transitions/s", ">= 5000");
    println!("  {:<38} {:>10}", "parked runs (wait 30d)", sizes.waiting);
    println!(
        "  {:<38} {:>10.1}",
        "  start + drive to parked (s)",
        (park_start + park_drive).as_secs_f64()
    );
    println!(
        "  {:<38} {:>10.1}",
        "  RSS before (MB)",
        rss_before as f64 / 1024.0
    );
    println!(
        "  {:<38} {:>10.1}",
        "  RSS after (MB)",
        rss_after as f64 / 1024.0
    );
    println!(
        "  {:<38} {:>10.1}   (target <= {} MB)",
        "  RSS added (MB)",
        added_mb,
        sizes.waiting / 1000
    );
    Ok(())
}

struct Stats {
    median: Duration,
    rate_median: f64,
    rate_min: f64,
    rate_max: f64,
}

impl Stats {
    fn of(times: &mut [Duration], ops: usize) -> Stats {
        times.sort();
        let median = times[times.len() / 2];
        Stats {
            median,
            rate_median: rate(ops, median),
            rate_min: rate(ops, *times.last().unwrap()),
            rate_max: rate(ops, times[0]),
        }
    }
}

fn rate(ops: usize, t: Duration) -> f64 {
    ops as f64 / t.as_secs_f64()
}

fn user_id(i: usize) -> String {
    format!("u{i:06}")
}

/// `users` employees (each managed by an earlier one, the first few by the
/// CEO), two apps, three grants and one open grant task each, an access
/// profile everyone is enrolled in, and a ring of delegations.
fn seed(store: &Store, users: usize) -> anyhow::Result<()> {
    let mut people =
        vec![json!({"id": "ceo", "display_name": "The CEO", "email": "ceo@example.com"})];
    let mut grants = Vec::new();
    let mut delegates = Vec::new();
    for i in 0..users {
        let manager = if i < 8 {
            "ceo".to_string()
        } else {
            user_id(i / 8)
        };
        people.push(json!({"id": user_id(i), "display_name": format!("User {i}"), "email": format!("{}@example.com", user_id(i)), "manager": manager, "department": "Engineering"}));
        let third = if i % 2 == 0 {
            "aws:staging-admin"
        } else {
            "aws:prod-readonly"
        };
        for e in ["okta:user", "aws:app-access", third] {
            grants.push(json!({"user": user_id(i), "entitlement": e}));
        }
        delegates.push(json!({"user": user_id(i), "delegate": user_id((i + 1) % users)}));
    }
    let file: DirectoryFile = serde_json::from_value(json!({
        "users": people,
        "apps": [
            {"id": "aws", "name": "AWS", "owner": "ceo", "entitlements": [
                {"slug": "app-access", "name": "Console"}, {"slug": "prod-readonly", "name": "Prod RO"},
                {"slug": "staging-admin", "name": "Staging admin"}, {"slug": "billing", "name": "Billing"}]},
            {"id": "okta", "name": "Okta", "owner": "ceo", "entitlements": [{"slug": "user", "name": "Okta user"}]},
        ],
        "grants": grants,
        "access_profiles": [{"id": "baseline", "name": "Baseline", "entitlements": ["okta:user", "aws:app-access"],
            "enrolled": (0..users).map(user_id).collect::<Vec<_>>()}],
        "delegates": delegates,
    }))?;
    store.write(|conn| -> anyhow::Result<()> {
        let dir = keystep::directory::Directory::new(conn, "bench".into());
        import::apply(&dir, &file)?;
        for i in 0..users {
            dir.open_task("grant", &user_id(i), "aws:billing", Some("ceo"), None)?;
        }
        Ok(())
    })
}

fn automation(name: &str, text: &str) -> anyhow::Result<Arc<Automation>> {
    let a = parse(Path::new(name), text).map_err(|d| anyhow::anyhow!("{}", d[0]))?;
    Ok(Arc::new(a))
}

fn count(store: &Store, sql: &str) -> anyhow::Result<usize> {
    Ok(store.conn().query_row(sql, [], |r| r.get::<_, i64>(0))? as usize)
}

/// One measurement on a fresh store: (time to start the runs, time to drive
/// them to completion).
fn transitions_once(users: usize) -> anyhow::Result<(Duration, Duration)> {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(&tmp.path().join("keystep.db"))?;
    seed(&store, users)?;
    let offboard = automation("bench-offboard.yaml", OFFBOARD)?;
    let engine = Engine::new(&store, Catalog::new(Vec::new()));
    let t = Instant::now();
    for i in 0..users {
        engine.start(offboard.clone(), json!({"user_id": user_id(i)}))?;
    }
    let started = t.elapsed();
    let t = Instant::now();
    let idle = engine.drive(&mut Quiet)?;
    let driven = t.elapsed();
    assert_eq!(idle, Idle::Until(None), "drive stopped early");
    let succeeded = count(
        &store,
        "SELECT count(*) FROM runs WHERE state = 'succeeded'",
    )?;
    let attempts = count(
        &store,
        "SELECT count(*) FROM step_attempts WHERE state = 'succeeded'",
    )?;
    if succeeded != users || attempts != users * STEPS {
        let errors: Vec<Json> = store
            .conn()
            .prepare("SELECT error FROM runs WHERE state != 'succeeded' LIMIT 3")?
            .query_map([], |r| r.get::<_, Option<String>>(0))?
            .map(|e| e.map(Json::from))
            .collect::<Result<_, _>>()?;
        panic!(
            "{succeeded}/{users} runs succeeded, {attempts}/{} attempts; errors: {errors:?}",
            users * STEPS
        );
    }
    let cancelled = count(
        &store,
        "SELECT count(*) FROM tasks WHERE kind = 'grant' AND state = 'cancelled'",
    )?;
    let inactive = count(
        &store,
        "SELECT count(*) FROM users WHERE status = 'inactive'",
    )?;
    assert_eq!(
        (cancelled, inactive),
        (users, users),
        "the steps did not do their work"
    );
    Ok((started, driven))
}

/// `n` bare write transactions (BEGIN IMMEDIATE; INSERT; UPDATE; COMMIT) on a
/// fresh database with the store's pragmas.
fn bare_transactions(n: usize) -> anyhow::Result<Duration> {
    let tmp = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(tmp.path().join("bare.db"))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0);",
    )?;
    let t = Instant::now();
    for i in 0..n {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        conn.prepare_cached("INSERT INTO t (payload) VALUES (?1)")?
            .execute([format!("row {i}")])?;
        let id = conn.last_insert_rowid();
        conn.prepare_cached("UPDATE t SET n = n + 1 WHERE id = ?1")?
            .execute([id])?;
        conn.execute_batch("COMMIT")?;
    }
    Ok(t.elapsed())
}

/// RSS before and after `n` runs are started and driven until all wait on a
/// 30-day timer, and the time taken to start them and to drive them.
fn parked_runs(n: usize) -> anyhow::Result<(u64, u64, Duration, Duration)> {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(&tmp.path().join("keystep.db"))?;
    let users = 1_000.min(n);
    seed(&store, users)?;
    let parked = automation("bench-parked.yaml", PARKED)?;
    let engine = Engine::new(&store, Catalog::new(Vec::new()));
    let before = rss_kb();
    let t = Instant::now();
    for i in 0..n {
        engine.start(parked.clone(), json!({"user_id": user_id(i % users)}))?;
    }
    let started = t.elapsed();
    let t = Instant::now();
    let idle = engine.drive(&mut Quiet)?;
    let driven = t.elapsed();
    let after = rss_kb();
    assert!(
        matches!(idle, Idle::Until(Some(_))),
        "expected a future wake, got {idle:?}"
    );
    let waiting = count(&store, "SELECT count(*) FROM runs WHERE state = 'waiting'")?;
    assert_eq!(waiting, n, "not every run is parked");
    println!(
        "  parked: {n} runs started in {:.1}s ({:.0}/s), driven to waiting in {:.1}s ({:.0}/s)",
        started.as_secs_f64(),
        rate(n, started),
        driven.as_secs_f64(),
        rate(n, driven)
    );
    Ok((before, after, started, driven))
}

/// This process's resident set size, in KiB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
