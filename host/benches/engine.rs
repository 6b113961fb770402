//! Engine benchmarks through the real library and the real SQLite store:
//!
//! 1. durable directory-step transitions per second (a six-step offboarding
//!    per run) at engine concurrency 1, 16 and 64, the runs' starts inside
//!    the timed section, beside bare SQLite commits on a fresh database with
//!    the store's own pragmas: one row per commit, and 64 rows per commit;
//! 2. the memory that runs parked on a 30-day `wait` add, measured in a
//!    fresh process (this binary re-run with `--parked-child`), and the rate
//!    of other runs driven beside them.
//!
//! Every figure is the median of five samples; engine and baseline reps
//! alternate so that machine noise hits both. `cargo bench -p keystep
//! --bench engine`; `KEYSTEP_BENCH_QUICK=1` (or `--quick`) shrinks the sizes
//! tenfold for a smoke run.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{SAMPLES, Samples, Table};
use keystep::automation::{Automation, catalog::Catalog, parse};
use keystep::directory::{Directory, DirectoryChanges, import};
use keystep::engine::{Engine, Idle, Quiet};
use keystep::store::{Keep, Store, WriterStats};
use serde_json::{Value as Json, json};

const STEPS: usize = 6;
const CONCURRENCY: [usize; 4] = [1, 16, 64, 256];
/// Rows per transaction in the batched baseline.
const BATCH: usize = 64;

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

/// The sizes of one bench run.
#[derive(Clone, Copy)]
struct Sizes {
    /// Offboarding runs per engine sample.
    runs: usize,
    /// Runs parked on the 30-day wait in each memory sample.
    parked: usize,
    /// Offboarding runs driven beside the parked ones.
    beside: usize,
}

fn main() -> anyhow::Result<()> {
    let quick = common::quick();
    let sizes = [
        Sizes {
            runs: 2_000,
            parked: 100_000,
            beside: 500,
        },
        Sizes {
            runs: 200,
            parked: 10_000,
            beside: 50,
        },
    ][quick as usize];
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--parked-child") {
        let parked = args.get(at + 1).and_then(|n| n.parse().ok());
        let beside = args.get(at + 2).and_then(|n| n.parse().ok());
        let (Some(parked), Some(beside)) = (parked, beside) else {
            anyhow::bail!("usage: --parked-child RUNS BESIDE");
        };
        return parked_child(parked, beside);
    }
    println!(
        "keystep engine bench ({}), {SAMPLES} samples of each figure",
        ["full", "quick"][quick as usize]
    );
    let runtime = common::runtime()?;
    let transitions = sizes.runs * STEPS;
    let template = Template::new(sizes.runs)?;
    let mut engine = vec![Samples::default(); CONCURRENCY.len()];
    let mut starts = vec![Samples::default(); CONCURRENCY.len()];
    let (mut single, mut batched) = (Samples::default(), Samples::default());
    // Microseconds per engine transition at the top concurrency, per commit bare.
    let (mut per_transition, mut per_commit) = (Samples::default(), Samples::default());
    for sample in 1..=SAMPLES {
        for (i, &concurrency) in CONCURRENCY.iter().enumerate() {
            let m = runtime.block_on(offboard_once(&template, concurrency))?;
            engine[i].push_rate(transitions, m.total);
            starts[i].push_rate(sizes.runs, m.start);
            if i == CONCURRENCY.len() - 1 {
                per_transition.push(1e6 * m.total.as_secs_f64() / transitions as f64);
            }
            println!(
                "  sample {sample} concurrency {concurrency:>2}: {} runs started in {:.3}s, \
                 driven in {:.3}s: {:.0} transitions/s; writer: {} commits of {:.1} jobs, \
                 {:.0}% busy, {:.1} us a job; {}",
                sizes.runs,
                m.start.as_secs_f64(),
                m.drive.as_secs_f64(),
                transitions as f64 / m.total.as_secs_f64(),
                m.writer.commits,
                m.writer.jobs as f64 / m.writer.commits as f64,
                100.0 * m.writer.busy.as_secs_f64() / m.total.as_secs_f64(),
                1e6 * m.writer.busy.as_secs_f64() / m.writer.jobs as f64,
                m.cpu.describe(m.total, transitions),
            );
        }
        let t = bare_commits(transitions, 1)?;
        single.push_rate(transitions, t);
        per_commit.push(1e6 * t.as_secs_f64() / transitions as f64);
        let b = bare_commits(transitions, BATCH)?;
        batched.push_rate(transitions, b);
        println!(
            "  sample {sample} bare SQLite: {transitions} rows, one per commit {:.0}/s, {BATCH} per commit {:.0}/s",
            transitions as f64 / t.as_secs_f64(),
            transitions as f64 / b.as_secs_f64()
        );
    }
    let parked = parked_samples(sizes)?;

    println!(
        "\nsummary: {} runs x {STEPS} directory steps = {transitions} transitions a sample, run starts inside the timed section",
        sizes.runs
    );
    let mut table = Table::new();
    for (i, c) in CONCURRENCY.iter().enumerate() {
        let target = if *c == 64 { ">= 20000" } else { "" };
        table.row(
            format!("engine transitions/s, concurrency {c}"),
            &engine[i],
            0,
            target,
        );
        table.row(
            format!("  of which run starts/s, concurrency {c}"),
            &starts[i],
            0,
            "",
        );
    }
    table.row("bare SQLite rows/s, 1 row per commit", &single, 0, "");
    table.row(
        format!("bare SQLite rows/s, {BATCH} rows per commit"),
        &batched,
        0,
        "",
    );
    table.row(
        "engine us/transition (concurrency 64)",
        &per_transition,
        1,
        "",
    );
    table.row("bare us/commit (1 row)", &per_commit, 1, "");
    let mb = sizes.parked / 1000;
    table.row(
        format!("RSS added by {} parked runs (MB)", sizes.parked),
        &parked.added_mb,
        1,
        &format!("<= {mb}"),
    );
    table.row("  RSS before (MB)", &parked.before_mb, 1, "");
    table.row("  start + drive until all wait (s)", &parked.elapsed, 1, "");
    table.row(
        format!(
            "transitions/s beside the parked runs ({} runs)",
            sizes.beside
        ),
        &parked.beside,
        0,
        "",
    );
    table.print();
    Ok(())
}

/// One engine sample: starting the runs, driving them, and the CPU the
/// process's threads spent meanwhile.
struct Measured {
    start: Duration,
    drive: Duration,
    total: Duration,
    cpu: cpu::Spent,
    /// The store writer's commits, jobs and busy time in the sample.
    writer: WriterStats,
}

fn user_id(i: usize) -> String {
    format!("u{i:06}")
}

/// A seeded store, copied for each sample so that every sample starts from
/// the same fresh database without seeding again.
struct Template {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    users: usize,
}

impl Template {
    fn new(users: usize) -> anyhow::Result<Template> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&dir.path().join("seed.db"))?;
        seed(&store, users)?;
        let path = dir.path().join("template.db");
        store.copy_to(&path)?;
        Ok(Template {
            _dir: dir,
            path,
            users,
        })
    }

    /// A fresh copy, opened as a store.
    fn fresh(&self) -> anyhow::Result<(tempfile::TempDir, Store)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keystep.db");
        std::fs::copy(&self.path, &path)?;
        Ok((dir, Store::open(&path)?))
    }
}

/// `users` employees (each managed by an earlier one, the first few by the
/// CEO) with three grants and one open grant task each, all enrolled in the
/// access profile, and a ring of delegations.
fn seed(store: &Store, users: usize) -> anyhow::Result<()> {
    let mut file: Json = serde_json::from_str(APPS)?;
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
    store.write_sql_blocking(Keep::IfOk, move |conn| -> anyhow::Result<()> {
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
    Ok(store.reader()?.query_row(sql, [], |r| r.get::<_, i64>(0))? as usize)
}

/// Fails unless `runs` offboarding runs succeeded, each with six successful
/// steps that did their work.
fn check_succeeded(store: &Store, runs: usize) -> anyhow::Result<()> {
    let conn = store.reader()?;
    let counts: [i64; 4] = conn.query_row(
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
        let error: Option<String> = conn.query_row(failed, [], |r| r.get(0)).ok();
        anyhow::bail!(
            "want {runs} runs, {} steps, {runs} cancelled tasks, {runs} inactive users; got {counts:?}; {error:?}",
            runs * STEPS
        );
    }
    Ok(())
}

/// Starts one run of `automation` per subject, `concurrency` starts at a
/// time (each reads the subject's record and commits the run), then drives
/// them all: (time to start, time to drive, where drive stopped).
async fn start_and_drive(
    engine: &Engine,
    automation: &Arc<Automation>,
    subjects: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<(Duration, Duration, Idle)> {
    let t = Instant::now();
    let queue = Arc::new(Mutex::new(subjects.into_iter()));
    let mut starters = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (engine, automation, queue) = (engine.clone(), automation.clone(), queue.clone());
        starters.spawn(async move {
            loop {
                let Some(id) = queue.lock().unwrap().next() else {
                    return anyhow::Ok(());
                };
                let trigger = engine.trigger(json!({ "user_id": id }))?;
                engine.start(automation.clone(), trigger).await?;
            }
        });
    }
    while let Some(started) = starters.join_next().await {
        started??;
    }
    let started = t.elapsed();
    let t = Instant::now();
    let idle = engine.drive(Arc::new(Quiet)).await?;
    Ok((started, t.elapsed(), idle))
}

fn engine(store: &Store, concurrency: usize) -> Engine {
    Engine::builder(store.clone(), Catalog::new(Vec::new()))
        .concurrency(concurrency)
        .build()
}

/// One engine sample on a fresh copy of the template: every subject
/// offboarded at `concurrency`, starts and drive timed together.
async fn offboard_once(template: &Template, concurrency: usize) -> anyhow::Result<Measured> {
    let (_tmp, store) = template.fresh()?;
    let engine = engine(&store, concurrency);
    let offboard = automation("bench-offboard.yaml", OFFBOARD)?;
    let subjects = (0..template.users).map(user_id).collect();
    let (before, written) = (cpu::Threads::now()?, store.writer_stats());
    let (start, drive, idle) = start_and_drive(&engine, &offboard, subjects, concurrency).await?;
    let cpu = cpu::Threads::now()?.since(&before);
    let after = store.writer_stats();
    let writer = WriterStats {
        commits: after.commits - written.commits,
        jobs: after.jobs - written.jobs,
        busy: after.busy - written.busy,
    };
    anyhow::ensure!(idle == Idle::Until(None), "drive stopped early: {idle:?}");
    check_succeeded(&store, template.users)?;
    Ok(Measured {
        start,
        drive,
        total: start + drive,
        cpu,
        writer,
    })
}

/// `rows` rows committed `per_commit` at a time (`BEGIN IMMEDIATE`, the
/// inserts, `COMMIT`) on a fresh database with the store's pragmas.
fn bare_commits(rows: usize, per_commit: usize) -> anyhow::Result<Duration> {
    let tmp = tempfile::tempdir()?;
    let conn = keystep::store::open_like_the_store(&tmp.path().join("bare.db"))?;
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, run INTEGER NOT NULL, payload TEXT NOT NULL);",
    )?;
    let t = Instant::now();
    let mut insert = conn.prepare("INSERT INTO t (run, payload) VALUES (?1, ?2)")?;
    for first in (0..rows).step_by(per_commit) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for i in first..(first + per_commit).min(rows) {
            insert.execute(rusqlite::params![i as i64, format!("step {i} succeeded")])?;
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok(t.elapsed())
}

/// The memory samples, each from a fresh process.
struct Parked {
    before_mb: Samples,
    added_mb: Samples,
    elapsed: Samples,
    beside: Samples,
}

/// Runs this binary `SAMPLES` times with `--parked-child` and reads what
/// each measured.
fn parked_samples(sizes: Sizes) -> anyhow::Result<Parked> {
    let exe = std::env::current_exe()?;
    let mut p = Parked {
        before_mb: Samples::default(),
        added_mb: Samples::default(),
        elapsed: Samples::default(),
        beside: Samples::default(),
    };
    for sample in 1..=SAMPLES {
        let out = Command::new(&exe)
            .args(["--parked-child", &sizes.parked.to_string()])
            .arg(sizes.beside.to_string())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "the parked-runs process failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("parked: "))
            .ok_or_else(|| anyhow::anyhow!("the parked-runs process said nothing: {stdout}"))?;
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.split_once('=').map_or(f, |(_, v)| v).parse())
            .collect::<Result<_, _>>()?;
        let [before_kb, after_kb, elapsed, beside] = v[..] else {
            anyhow::bail!("the parked-runs process said `{line}`");
        };
        println!(
            "  sample {sample} parked: {} runs, RSS {:.1} -> {:.1} MB, started and parked in {elapsed:.1}s; {beside:.0} transitions/s beside them",
            sizes.parked,
            before_kb / 1024.0,
            after_kb / 1024.0
        );
        p.before_mb.push(before_kb / 1024.0);
        p.added_mb.push((after_kb - before_kb) / 1024.0);
        p.elapsed.push(elapsed);
        p.beside.push(beside);
    }
    Ok(p)
}

/// In a fresh process: RSS before and after `n` runs are started and driven
/// until all wait on a 30-day timer, then the rate of `beside` offboarding
/// runs driven beside them. Prints one `parked:` line.
fn parked_child(n: usize, beside: usize) -> anyhow::Result<()> {
    let runtime = common::runtime()?;
    let users = 1_000.min(n).max(beside);
    let tmp = tempfile::tempdir()?;
    let store = Store::open(&tmp.path().join("keystep.db"))?;
    seed(&store, users)?;
    let engine = engine(&store, keystep::config::DEFAULT_CONCURRENCY);
    let parked = automation("bench-parked.yaml", PARKED)?;
    let subjects = (0..n).map(|i| user_id(i % users)).collect();
    let before = rss_kb()?;
    let (start, drive, idle) = runtime.block_on(start_and_drive(
        &engine,
        &parked,
        subjects,
        keystep::config::DEFAULT_CONCURRENCY,
    ))?;
    let after = rss_kb()?;
    anyhow::ensure!(
        matches!(idle, Idle::Until(Some(_))),
        "expected a future wake, got {idle:?}"
    );
    let waiting = count(&store, "SELECT count(*) FROM runs WHERE state = 'waiting'")?;
    anyhow::ensure!(waiting == n, "{waiting} of {n} runs are parked");

    let offboard = automation("bench-offboard.yaml", OFFBOARD)?;
    let subjects = (0..beside).map(user_id).collect();
    let (s, d, _) = runtime.block_on(start_and_drive(&engine, &offboard, subjects, 64))?;
    check_succeeded(&store, beside)?;
    let rate = (beside * STEPS) as f64 / (s + d).as_secs_f64();
    let elapsed = (start + drive).as_secs_f64();
    println!("parked: before_kb={before} after_kb={after} elapsed_s={elapsed:.3} beside={rate:.0}");
    Ok(())
}

/// This process's resident set size, in KiB; an error when it cannot be
/// read (a figure of 0 would pass any target).
fn rss_kb() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS line in /proc/self/status"))
}

/// Where a sample's CPU went, by thread, from `/proc/self/task/*/stat`.
mod cpu {
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// Clock ticks per second of `/proc` times (USER_HZ, 100 on Linux).
    const TICKS: f64 = 100.0;

    /// CPU ticks so far, by thread name.
    pub struct Threads(BTreeMap<String, u64>);

    /// CPU seconds spent between two readings, by thread kind.
    pub struct Spent {
        writer: f64,
        workers: f64,
        other: f64,
    }

    impl Threads {
        pub fn now() -> anyhow::Result<Threads> {
            let mut by_thread = BTreeMap::new();
            for task in std::fs::read_dir("/proc/self/task")? {
                let stat = std::fs::read_to_string(task?.path().join("stat"))?;
                let (name, rest) = stat
                    .split_once(" (")
                    .and_then(|(id, rest)| {
                        let (name, rest) = rest.rsplit_once(") ")?;
                        Some((format!("{name}#{id}"), rest))
                    })
                    .ok_or_else(|| anyhow::anyhow!("unreadable /proc stat: {stat}"))?;
                // After the name: state is field 3, utime 14, stime 15.
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
                by_thread.insert(name, ticks);
            }
            Ok(Threads(by_thread))
        }

        pub fn since(&self, before: &Threads) -> Spent {
            let mut spent = Spent {
                writer: 0.0,
                workers: 0.0,
                other: 0.0,
            };
            for (name, ticks) in &self.0 {
                let s =
                    ticks.saturating_sub(before.0.get(name).copied().unwrap_or(0)) as f64 / TICKS;
                match name.split('#').next().unwrap_or("") {
                    "keystep-writer" => spent.writer += s,
                    "bench-worker" => spent.workers += s,
                    _ => spent.other += s,
                }
            }
            spent
        }
    }

    impl Spent {
        /// Busy shares over `wall` and CPU per transition.
        pub fn describe(&self, wall: Duration, transitions: usize) -> String {
            let w = wall.as_secs_f64();
            let total = self.writer + self.workers + self.other;
            format!(
                "CPU: writer {:.0}% busy, runtime threads {:.0}%, other {:.0}%; {:.1} us CPU/transition",
                100.0 * self.writer / w,
                100.0 * self.workers / w,
                100.0 * self.other / w,
                total * 1e6 / transitions as f64
            )
        }
    }
}
