//! Webhook delivery through the engine against a bare reqwest loop, in the
//! same process and against the same local receiver.
//!
//! The engine side drives runs of ten `run_webhook` steps each (1,000 steps
//! in all): every step is a durable transition (its attempt and the run's
//! next state committed in SQLite) around a signed POST. The bare side
//! POSTs the same payload, signed the same way, with one reqwest client.
//! The receiver is a small HTTP/1.1 keep-alive server on 127.0.0.1 that
//! answers `{"ok":true}` (signatures are checked in the tests, against the
//! `standardwebhooks` package, not here).
//!
//! `cargo bench -p keystep --bench webhooks`; `KEYSTEP_BENCH_QUICK=1` runs
//! a tenth of it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keystep::automation::{catalog::Catalog, parse};
use keystep::engine::{Engine, Idle, Quiet};
use keystep::notify::{Notifier, Settings, Webhook};
use keystep::secret::SecretSource;
use keystep::store::Store;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STEPS_PER_RUN: usize = 10;

fn main() -> anyhow::Result<()> {
    let quick = std::env::var("KEYSTEP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (deliveries, reps) = if quick { (100, 3) } else { (1_000, 5) };
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("KEYSTEP_BENCH_HOOK_SECRET", SECRET) };
    let url = receiver()?;
    let payload = json!({"event": "user.offboarded", "user": {"id": "u-ada", "email": "ada@example.com"}, "revoked": ["aws:prod-admin", "github:owner"]});
    let steps: String = (0..STEPS_PER_RUN)
        .map(|i| {
            format!("  - id: hook{i}\n    run_webhook: {{ webhook: bench, payload: {payload} }}\n")
        })
        .collect();
    let automation = Arc::new(
        parse(
            Path::new("bench-webhooks.yaml"),
            &format!("name: bench-webhooks\ntrigger: manual\nsteps:\n{steps}"),
        )
        .map_err(|d| anyhow::anyhow!("{}", d[0]))?,
    );
    let notifier = Arc::new(Notifier::new(Settings {
        webhooks: BTreeMap::from([(
            "bench".to_string(),
            Webhook {
                url: url.clone(),
                secret: SecretSource::Env("KEYSTEP_BENCH_HOOK_SECRET".into()),
                headers: BTreeMap::new(),
                timeout: Duration::from_secs(10),
            },
        )]),
        ..Settings::default()
    }));
    let client = reqwest::blocking::Client::new();
    let body = payload.to_string();

    let (mut engine_times, mut bare_times) = (Vec::new(), Vec::new());
    for rep in 1..=reps {
        // The engine: fresh store, runs started, then driven to the end.
        let tmp = tempfile::tempdir()?;
        let store = Store::open(&tmp.path().join("keystep.db"))?;
        let engine = Engine::new(&store, Catalog::new(Vec::new())).with_notifier(notifier.clone());
        for _ in 0..deliveries / STEPS_PER_RUN {
            engine.start(automation.clone(), json!({}))?;
        }
        let t = Instant::now();
        assert_eq!(engine.drive(&mut Quiet)?, Idle::Until(None));
        let engine_time = t.elapsed();
        let done: i64 = store.conn().query_row(
            "SELECT count(*) FROM step_attempts WHERE state = 'succeeded'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(done as usize, deliveries, "every delivery succeeded");

        // The bare loop: the same requests, signed the same way.
        let t = Instant::now();
        for i in 0..deliveries {
            let id = format!("bare-{i}");
            let ts = chrono::Utc::now().timestamp();
            let sig = keystep::notify::sign(SECRET, &id, ts, &body).map_err(anyhow::Error::msg)?;
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body.clone())
                .send()?;
            assert!(response.status().is_success());
            let _ = response.bytes()?;
        }
        let bare_time = t.elapsed();
        println!(
            "  rep {rep}: engine {:.1} us/delivery, bare {:.1} us/delivery",
            per(engine_time, deliveries),
            per(bare_time, deliveries)
        );
        engine_times.push(engine_time);
        bare_times.push(bare_time);
    }
    engine_times.sort();
    bare_times.sort();
    let (e, b) = (engine_times[reps / 2], bare_times[reps / 2]);
    println!(
        "\n{deliveries} deliveries per rep, {reps} reps, medians:\n  engine  {:>8.0} deliveries/s  {:>7.1} us each\n  bare    {:>8.0} deliveries/s  {:>7.1} us each\n  engine / bare {:.2}x (target < 2x); overhead {:.1} us per delivery",
        deliveries as f64 / e.as_secs_f64(),
        per(e, deliveries),
        deliveries as f64 / b.as_secs_f64(),
        per(b, deliveries),
        e.as_secs_f64() / b.as_secs_f64(),
        per(e, deliveries) - per(b, deliveries),
    );
    Ok(())
}

fn per(t: Duration, n: usize) -> f64 {
    t.as_secs_f64() * 1e6 / n as f64
}

/// A keep-alive HTTP/1.1 receiver on 127.0.0.1; returns its URL.
fn receiver() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut writer = stream.try_clone().expect("clone the stream");
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}
