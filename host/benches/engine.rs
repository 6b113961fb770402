//! Engine benchmarks through the real library and the real SQLite store:
//!
//! 1. durable step transitions per second (six directory-only steps per run),
//!    against a baseline of bare SQLite write transactions;
//! 2. memory of runs parked on a 30-day `wait`, and the rate of other runs
//!    driven beside them.
//!
//! `cargo bench -p keystep --bench engine`; `KEYSTEP_BENCH_QUICK=1` (or
//! `--quick`) shrinks every size tenfold for a smoke run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keystep::automation::{Automation, catalog::Catalog, parse};
use keystep::directory::{Directory, import};
use keystep::engine::{Engine, Idle, Quiet};
use keystep::store::Store;
use serde_json::json;

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

/// The directory's apps and access profile; users, grants and delegates are
/// generated.
const APPS: &str = r#"{
  "apps": [
    {"id": "aws", "name": "AWS", "owner": "ceo", "entitlements": [
      {"slug": "app-access", "name": "Console"}, {"slug": "prod-readonly", "name": "Prod read-only"},
      {"slug": "staging-admin", "name": "Staging admin"}, {"slug": "billing", "name": "Billing"}]},
    {"id": "okta", "name": "Okta", "owner": "ceo", "entitlements": [{"slug": "user", "name": "Okta user"}]}],
  "access_profiles": [{"id": "baseline", "name": "Baseline", "entitlements": ["okta:user", "aws:app-access"]}]
}"#;

fn main() -> anyhow::Result<()> {
    let quick = std::env::var("KEYSTEP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().any(|a| a == "--quick");
    // (runs per rep, reps, parked runs, runs driven beside the parked ones)
    let (users, reps, waiting, busy) =
        [(2_000, 5, 100_000, 200), (200, 3, 10_000, 20)][quick as usize];
    let mode = if quick { "quick" } else { "full" };
    println!("keystep engine bench ({mode})");
    let transitions = users * STEPS;

    // Engine and baseline alternate, so machine noise hits both alike.
    let mut engine_times = Vec::new();
    let mut bare_times = Vec::new();
    for rep in 1..=reps {
        let (start, drive) = transitions_once(users)?;
        let (s, d) = (start.as_secs_f64(), drive.as_secs_f64());
        let r = rate(transitions, drive);
        println!(
            "  engine rep {rep}: {users} runs started in {s:.3}s, {transitions} transitions driven in {d:.3}s = {r:.0}/s"
        );
        engine_times.push(drive);
        let t = bare_transactions(transitions)?;
        let r = rate(transitions, t);
        println!(
            "  bare   rep {rep}: {transitions} transactions in {:.3}s = {r:.0}/s",
            t.as_secs_f64()
        );
        bare_times.push(t);
    }
    let parked = parked_runs(waiting, busy)?;

    let (engine_median, engine) = rates(&mut engine_times, transitions);
    let (bare_median, bare) = rates(&mut bare_times, transitions);
    let ratio = engine_median.as_secs_f64() / bare_median.as_secs_f64();
    let (before, after) = (
        parked.rss_before_kb as f64 / 1024.0,
        parked.rss_after_kb as f64 / 1024.0,
    );
    let (added, target_mb) = (after - before, waiting / 1000);
    let (elapsed, busy_rate) = (parked.elapsed.as_secs_f64(), parked.busy_rate);
    println!(
        "
summary: {users} runs x {STEPS} steps = {transitions} transitions per rep, {reps} reps
  measure                                      median        min        max
  engine transitions/s (target >= 5000)    {engine}
  bare SQLite write transactions/s         {bare}
  engine transition / bare transaction     {ratio:>10.1}
  parked runs (wait 30d)                   {waiting:>10}
    start + drive until all wait (s)       {elapsed:>10.1}
    RSS before / after (MB)                {before:>10.1} {after:>10.1}
    RSS added (MB)                         {added:>10.1}   (target <= {target_mb} MB)
    transitions/s beside the parked runs   {busy_rate:>10.0}   ({busy} runs x {STEPS} steps)"
    );
    Ok(())
}

/// Sorts `times` and returns the median and a "median min max" rate line.
fn rates(times: &mut [Duration], ops: usize) -> (Duration, String) {
    times.sort();
    let (median, slowest, fastest) = (times[times.len() / 2], times[times.len() - 1], times[0]);
    let line = format!(
        "{:>10.0} {:>10.0} {:>10.0}",
        rate(ops, median),
        rate(ops, slowest),
        rate(ops, fastest)
    );
    (median, line)
}

fn rate(ops: usize, t: Duration) -> f64 {
    ops as f64 / t.as_secs_f64()
}

fn user_id(i: usize) -> String {
    format!("u{i:06}")
}

/// `users` employees (each managed by an earlier one, the first few by the
/// CEO) with three grants and one open grant task each, all enrolled in the
/// access profile, and a ring of delegations.
fn seed(store: &Store, users: usize) -> anyhow::Result<()> {
    let mut file: serde_json::Value = serde_json::from_str(APPS)?;
    let mut people =
        vec![json!({"id": "ceo", "display_name": "The CEO", "email": "ceo@example.com"})];
    let (mut grants, mut delegates) = (Vec::new(), Vec::new());
    for i in 0..users {
        let id = user_id(i);
        let manager = if i < 8 { "ceo".into() } else { user_id(i / 8) };
        let email = format!("{id}@example.com");
        people.push(json!({"id": id, "display_name": format!("User {i}"), "email": email, "manager": manager}));
        let third = ["aws:staging-admin", "aws:prod-readonly"][i % 2];
        grants.extend(
            ["okta:user", "aws:app-access", third].map(|e| json!({"user": id, "entitlement": e})),
        );
        if i + 1 < users {
            delegates.push(json!({"user": id, "delegate": user_id(i + 1)}));
        }
    }
    file["users"] = people.into();
    file["grants"] = grants.into();
    file["delegates"] = delegates.into();
    file["access_profiles"][0]["enrolled"] = (0..users).map(user_id).collect::<Vec<_>>().into();
    let file = import::parse(Path::new("bench.json"), &file.to_string())
        .map_err(|e| anyhow::anyhow!("bench directory: {e}"))?;
    store.write(|conn| -> anyhow::Result<()> {
        let dir = Directory::new(conn, "bench".into());
        import::apply(&dir, &file, import::Options::default())?;
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

/// Panics unless `runs` runs succeeded, each with six successful steps that
/// did their work.
fn check_succeeded(store: &Store, runs: usize) -> anyhow::Result<()> {
    let counts: [i64; 4] = store.conn().query_row(
        "SELECT (SELECT count(*) FROM runs WHERE state = 'succeeded'),
            (SELECT count(*) FROM step_attempts WHERE state = 'succeeded' AND kind != 'wait'),
            (SELECT count(*) FROM tasks WHERE kind = 'grant' AND state = 'cancelled'),
            (SELECT count(*) FROM users WHERE status = 'inactive')",
        [],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
    )?;
    let n = runs as i64;
    if counts != [n, n * STEPS as i64, n, n] {
        let failed = "SELECT error FROM runs WHERE state = 'failed' LIMIT 1";
        let error: Option<String> = store.conn().query_row(failed, [], |r| r.get(0)).ok();
        panic!(
            "want {runs} runs, {} steps, {runs} cancelled tasks, {runs} inactive users; got {counts:?}; {error:?}",
            runs * STEPS
        );
    }
    Ok(())
}

/// A fresh store in a temporary directory, seeded with `users` users.
fn fresh_store(users: usize) -> anyhow::Result<(tempfile::TempDir, Store)> {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(&tmp.path().join("keystep.db"))?;
    seed(&store, users)?;
    Ok((tmp, store))
}

/// Starts one run of `automation` per subject, then drives them: (time to
/// start, time to drive, where drive stopped).
fn start_and_drive(
    engine: &Engine,
    automation: &Arc<Automation>,
    subjects: impl Iterator<Item = String>,
) -> anyhow::Result<(Duration, Duration, Idle)> {
    let t = Instant::now();
    for id in subjects {
        engine.start(automation.clone(), json!({"user_id": id}))?;
    }
    let started = t.elapsed();
    let t = Instant::now();
    let idle = engine.drive(&mut Quiet)?;
    Ok((started, t.elapsed(), idle))
}

/// One measurement on a fresh store: (time to start the runs, time to drive
/// them to completion).
fn transitions_once(users: usize) -> anyhow::Result<(Duration, Duration)> {
    let (_tmp, store) = fresh_store(users)?;
    let engine = Engine::new(&store, Catalog::new(Vec::new()));
    let offboard = automation("bench-offboard.yaml", OFFBOARD)?;
    let (started, driven, idle) = start_and_drive(&engine, &offboard, (0..users).map(user_id))?;
    assert_eq!(idle, Idle::Until(None), "drive stopped early");
    check_succeeded(&store, users)?;
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

/// What [`parked_runs`] measured.
struct Parked {
    rss_before_kb: u64,
    rss_after_kb: u64,
    elapsed: Duration,
    busy_rate: f64,
}

/// RSS before and after `n` runs are started and driven until all wait on a
/// 30-day timer; then the rate of `busy` six-step runs driven beside them
/// (design section 7: "a hundred thousand waiting runs are fine").
fn parked_runs(n: usize, busy: usize) -> anyhow::Result<Parked> {
    let users = 1_000.min(n);
    let (_tmp, store) = fresh_store(users)?;
    let engine = Engine::new(&store, Catalog::new(Vec::new()));
    let parked = automation("bench-parked.yaml", PARKED)?;
    let rss_before_kb = rss_kb();
    let (started, driven, idle) =
        start_and_drive(&engine, &parked, (0..n).map(|i| user_id(i % users)))?;
    let rss_after_kb = rss_kb();
    assert!(
        matches!(idle, Idle::Until(Some(_))),
        "expected a future wake, got {idle:?}"
    );
    let waiting = count(&store, "SELECT count(*) FROM runs WHERE state = 'waiting'")?;
    assert_eq!(waiting, n, "not every run is parked");
    let (s, d) = (started.as_secs_f64(), driven.as_secs_f64());
    let (rs, rd) = (rate(n, started), rate(n, driven));
    println!(
        "  parked: {n} runs started in {s:.1}s ({rs:.0}/s), driven until waiting in {d:.1}s ({rd:.0}/s)"
    );

    let offboard = automation("bench-offboard.yaml", OFFBOARD)?;
    let (_, busy_time, _) = start_and_drive(&engine, &offboard, (0..busy).map(user_id))?;
    check_succeeded(&store, busy)?;
    let busy_rate = rate(busy * STEPS, busy_time);
    Ok(Parked {
        rss_before_kb,
        rss_after_kb,
        elapsed: started + driven,
        busy_rate,
    })
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
