//! Serve holding many waiting runs: 100,000 parked through the library
//! (90,000 on a 30-day wait, 10,000 until one instant T), then `keystep
//! serve` started on that store. Its resident memory is read once it has
//! settled; when T comes, each of the 10,000 is woken, and how late is its
//! wait attempt's end − T, from the store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keystep::automation::{Automation, catalog::Catalog, parse};
use keystep::engine::{Engine, Idle, Quiet, Start};
use keystep::store::Store;
use serde_json::json;

use super::common::{Samples, Table};
use super::server::{Server, Setup};

/// How many runs a job of starts creates.
const CHUNK: usize = 5_000;

pub fn measure(setup: &Setup, quick: bool, table: &mut Table) -> anyhow::Result<()> {
    let (long, soon) = if quick {
        (9_000, 1_000)
    } else {
        (90_000, 10_000)
    };
    let runtime = super::common::runtime()?;
    // T: after the parking (about 9 s for 100,000 here) and serve's start.
    let margin = Duration::from_secs(if quick { 8 } else { 40 });
    let due = Utc::now() + chrono::Duration::from_std(margin)?;
    let store_path = setup.dir.path().join("waiting.db");
    let parked = std::time::Instant::now();
    runtime.block_on(park(&store_path, long, soon, due))?;
    println!(
        "  parked {long} runs on a 30-day wait and {soon} until {due} in {:.1} s",
        parked.elapsed().as_secs_f64()
    );
    let config = setup.dir.path().join("waiting.toml");
    std::fs::write(
        &config,
        format!("[store]\npath = \"{}\"\n", store_path.display()),
    )?;
    let serving = Server::serve_with_config(&config)?;
    std::thread::sleep(Duration::from_secs(2));
    let (settled, _) = serving.memory_mb()?;
    let left = due - Utc::now();
    anyhow::ensure!(
        left > chrono::Duration::seconds(1),
        "serve was up {} s after T: the machine was too slow to park the runs in time",
        -left.num_seconds()
    );
    std::thread::sleep(left.to_std()?);
    let db = rusqlite::Connection::open(&store_path)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while count(&db, "SELECT count(*) FROM runs WHERE state = 'succeeded'")? < soon as i64 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the due runs did not all wake within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, peak) = serving.memory_mb()?;
    let late = lateness(&db, due)?;
    let (p50, p99, last) = (at(&late, 0.5), at(&late, 0.99), late[late.len() - 1]);
    println!("  {soon} due at once woke: p50 {p50:.3} s, p99 {p99:.3} s, last {last:.3} s late");
    let waiting = count(&db, "SELECT count(*) FROM runs WHERE state = 'waiting'")?;
    anyhow::ensure!(
        waiting == long as i64,
        "{waiting} runs still wait, not {long}"
    );
    for (name, value, decimals, target) in [
        (
            format!(
                "serve's resident memory with {} waiting runs (MB)",
                long + soon
            ),
            settled,
            1,
            "≤ 150",
        ),
        (
            "serve's peak resident memory, waking them (MB)".to_string(),
            peak,
            1,
            "",
        ),
        (
            format!("timer lateness, {soon} due at once: p50 (s)"),
            p50,
            3,
            "",
        ),
        (
            format!("timer lateness, {soon} due at once: p99 (s)"),
            p99,
            3,
            "≤ 1",
        ),
    ] {
        let mut s = Samples::default();
        s.push(value);
        table.row(name, &s, decimals, target);
    }
    Ok(())
}

/// Starts and parks `long` runs on a 30-day wait and `soon` until `due`.
async fn park(path: &Path, long: usize, soon: usize, due: DateTime<Utc>) -> anyhow::Result<()> {
    let store = Store::open(path)?;
    let engine = Engine::builder(store.clone(), Catalog::new(Vec::new()))
        .concurrency(256)
        .build();
    let month = automation("month", "duration: 30d")?;
    let until = automation("until", &format!("until: \"{}\"", due.to_rfc3339()))?;
    for (automation, n) in [(month, long), (until, soon)] {
        for chunk in (0..n).step_by(CHUNK) {
            let starts = (chunk..(chunk + CHUNK).min(n))
                .map(|i| Start {
                    automation: automation.clone(),
                    trigger: json!({ "n": i }),
                    lineage: vec![automation.name.clone()],
                    event: None,
                })
                .collect();
            engine.start_all(starts, Box::new(|_| Ok(true))).await?;
        }
    }
    let idle = engine.drive(Arc::new(Quiet)).await?;
    anyhow::ensure!(
        matches!(idle, Idle::Until(Some(_))),
        "parking ended {idle:?}"
    );
    Ok(())
}

fn automation(name: &str, wait: &str) -> anyhow::Result<Arc<Automation>> {
    let text =
        format!("name: {name}\ntrigger: manual\nsteps:\n  - id: hold\n    wait: {{ {wait} }}\n");
    Ok(Arc::new(
        parse(Path::new(&format!("{name}.yaml")), &text)
            .map_err(|d| anyhow::anyhow!("{}", d[0]))?,
    ))
}

/// How late each run woke, in seconds, sorted.
fn lateness(db: &rusqlite::Connection, due: DateTime<Utc>) -> anyhow::Result<Vec<f64>> {
    let mut stmt = db.prepare(
        "SELECT a.finished_at FROM step_attempts a JOIN runs r ON r.id = a.run_id
         WHERE r.automation = 'until' AND a.state = 'succeeded'",
    )?;
    let mut late: Vec<f64> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .map(|t| {
            let t = DateTime::parse_from_rfc3339(&t?).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(((t.to_utc() - due).num_microseconds().unwrap_or(0) as f64) / 1e6)
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!late.is_empty(), "no run woke");
    late.sort_by(f64::total_cmp);
    Ok(late)
}

fn at(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn count(db: &rusqlite::Connection, sql: &str) -> anyhow::Result<i64> {
    Ok(db.query_row(sql, [], |r| r.get(0))?)
}
