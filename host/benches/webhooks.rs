//! Webhook runs through the engine against the same signed POSTs made
//! directly, in the same process, against the same slow receiver.
//!
//! The receiver is a keep-alive HTTP/1.1 server on 127.0.0.1 (tokio, on a
//! thread and runtime of its own) that answers `{"ok":true}` 50 ms after
//! each request. The engine side starts 10,000 runs of one `run_webhook`
//! step and drives them at engine concurrency 64, 256 (the default) and
//! 1,024, starts inside the timed section: each run is a commit (its start),
//! a commit (the attempt recorded as performing), the signed POST with no
//! transaction open, and a commit (the settle). The bare side makes the same
//! number of POSTs with the same concurrency (that many tasks sharing one
//! async reqwest client): each signed the same way, with the same headers
//! and body, its answer read and parsed as JSON; no store. The receiver
//! counts what it was sent, and each side is checked against it.
//!
//! Every figure is the median of five samples; engine and bare alternate.
//! `cargo bench -p keystep --bench webhooks`; `KEYSTEP_BENCH_QUICK=1` runs
//! a tenth of it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{SAMPLES, Samples, Table};
use keystep::automation::{Automation, catalog::Catalog, parse};
use keystep::engine::{Engine, Idle, Quiet};
use keystep::notify::{Notifier, Settings, Webhook};
use keystep::secret::SecretSource;
use keystep::store::Store;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How long the receiver takes to answer.
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: [usize; 3] = [64, 256, 1024];

fn main() -> anyhow::Result<()> {
    let quick = common::quick();
    let runs = if quick { 1_000 } else { 10_000 };
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("KEYSTEP_BENCH_HOOK_SECRET", SECRET) };
    let receiver = Receiver::start()?;
    let payload = json!({"event": "user.offboarded", "user": {"id": "u-ada", "email": "ada@example.com"}, "revoked": ["aws:prod-admin", "github:owner"]});
    let automation = Arc::new(
        parse(
            Path::new("bench-webhook.yaml"),
            &format!(
                "name: bench-webhook\ntrigger: manual\nsteps:\n  - id: hook\n    run_webhook: {{ webhook: bench, payload: {payload} }}\n"
            ),
        )
        .map_err(|d| anyhow::anyhow!("{}", d[0]))?,
    );
    let notifier = Arc::new(Notifier::new(Settings {
        webhooks: BTreeMap::from([(
            "bench".to_string(),
            Webhook {
                url: receiver.url.clone(),
                secret: SecretSource::Env("KEYSTEP_BENCH_HOOK_SECRET".into()),
                headers: BTreeMap::new(),
                timeout: Duration::from_secs(30),
            },
        )]),
        ..Settings::default()
    }));
    let bare = Bare {
        client: reqwest::Client::builder()
            .user_agent("keystep-bench")
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        url: receiver.url.clone(),
        body: payload.to_string(),
    };
    let runtime = common::runtime()?;
    println!(
        "keystep webhook bench ({}): {runs} runs of one run_webhook step a sample, receiver answers after {} ms",
        ["full", "quick"][quick as usize],
        LATENCY.as_millis()
    );
    let n = CONCURRENCY.len();
    let (mut engine, mut direct, mut ratio) = (
        vec![Samples::default(); n],
        vec![Samples::default(); n],
        vec![Samples::default(); n],
    );
    for sample in 1..=SAMPLES {
        for (i, &concurrency) in CONCURRENCY.iter().enumerate() {
            let before = receiver.count();
            let (start, total) =
                runtime.block_on(engine_once(&automation, &notifier, runs, concurrency))?;
            receiver.expect(before + runs)?;
            let b = runtime.block_on(bare.post_all(runs, concurrency))?;
            receiver.expect(before + 2 * runs)?;
            engine[i].push_rate(runs, total);
            direct[i].push_rate(runs, b);
            ratio[i].push(total.as_secs_f64() / b.as_secs_f64());
            println!(
                "  sample {sample} concurrency {concurrency:>4}: engine {:.0} runs/s ({:.3}s, of which starts {:.3}s), bare {:.0} POSTs/s ({:.3}s), engine / bare {:.2}x",
                runs as f64 / total.as_secs_f64(),
                total.as_secs_f64(),
                start.as_secs_f64(),
                runs as f64 / b.as_secs_f64(),
                b.as_secs_f64(),
                total.as_secs_f64() / b.as_secs_f64()
            );
        }
    }
    println!(
        "\nsummary: {runs} runs a sample, run starts inside the timed section; the ratio is per sample, engine time / bare time"
    );
    let mut table = Table::new();
    for (i, c) in CONCURRENCY.iter().enumerate() {
        let default = *c == keystep::config::DEFAULT_CONCURRENCY;
        let name = if default { " (default)" } else { "" };
        let [rate, under] = if default {
            [">= 2000", "< 2"]
        } else {
            ["", ""]
        };
        table.row(
            format!("engine runs/s, concurrency {c}{name}"),
            &engine[i],
            0,
            rate,
        );
        table.row(
            format!("bare signed POSTs/s, concurrency {c}"),
            &direct[i],
            0,
            "",
        );
        table.row(
            format!("engine / bare, concurrency {c}"),
            &ratio[i],
            2,
            under,
        );
    }
    table.print();
    Ok(())
}

/// One engine sample on a fresh store: (time to start the runs, time to
/// start and drive them all).
async fn engine_once(
    automation: &Arc<Automation>,
    notifier: &Arc<Notifier>,
    runs: usize,
    concurrency: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(&tmp.path().join("keystep.db"))?;
    let engine = Engine::builder(store.clone(), Catalog::new(Vec::new()))
        .notifier(notifier.clone())
        .concurrency(concurrency)
        .build();
    let t = Instant::now();
    let left = Arc::new(AtomicUsize::new(runs));
    let mut starters = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (engine, automation, left) = (engine.clone(), automation.clone(), left.clone());
        starters.spawn(async move {
            while take(&left) {
                engine.start(automation.clone(), json!({})).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(started) = starters.join_next().await {
        started??;
    }
    let start = t.elapsed();
    let idle = engine.drive(Arc::new(Quiet)).await?;
    let total = t.elapsed();
    anyhow::ensure!(idle == Idle::Until(None), "drive stopped early: {idle:?}");
    let done: i64 = store.reader()?.query_row(
        "SELECT count(*) FROM runs WHERE state = 'succeeded'",
        [],
        |r| r.get(0),
    )?;
    anyhow::ensure!(done as usize == runs, "{done} of {runs} runs succeeded");
    Ok((start, total))
}

/// Takes one unit of work from `left`; false when none is left.
fn take(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// The baseline: signed POSTs made directly with one async client.
struct Bare {
    client: reqwest::Client,
    url: String,
    body: String,
}

impl Bare {
    /// `n` POSTs, `concurrency` at a time: how long they took.
    async fn post_all(&self, n: usize, concurrency: usize) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let left = Arc::new(AtomicUsize::new(n));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, url, body, left) = (
                self.client.clone(),
                self.url.clone(),
                self.body.clone(),
                left.clone(),
            );
            tasks.spawn(async move {
                while take(&left) {
                    post(&client, &url, &body).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(t.elapsed())
    }
}

/// One POST as the notifier makes it: signed, its answer read and parsed.
async fn post(client: &reqwest::Client, url: &str, body: &str) -> anyhow::Result<()> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let id = format!("bare-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let ts = chrono::Utc::now().timestamp();
    let signature = keystep::notify::sign(SECRET, &id, ts, body).map_err(anyhow::Error::msg)?;
    let response = client
        .post(url)
        .timeout(Duration::from_secs(30))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body.to_string())
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "{}", response.status());
    let answer: Json = serde_json::from_slice(&response.bytes().await?)?;
    anyhow::ensure!(answer == json!({"ok": true}), "answer {answer}");
    Ok(())
}

/// The slow receiver, on its own thread and runtime.
struct Receiver {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Receiver {
    fn start() -> anyhow::Result<Receiver> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("bench-receiver".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    loop {
                        let (stream, _) = listener.accept().await?;
                        tokio::spawn(serve(stream, counted.clone()));
                    }
                    #[allow(unreachable_code)]
                    std::io::Result::Ok(())
                })
            })?;
        Ok(Receiver { url, requests })
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Fails unless the receiver has answered `n` requests in all.
    fn expect(&self, n: usize) -> anyhow::Result<()> {
        let got = self.count();
        anyhow::ensure!(got == n, "the receiver answered {got} requests, not {n}");
        Ok(())
    }
}

/// One keep-alive connection: each request answered after [`LATENCY`].
async fn serve(stream: tokio::net::TcpStream, requests: Arc<AtomicUsize>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let mut length = 0usize;
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        tokio::time::sleep(LATENCY).await;
        requests.fetch_add(1, Ordering::SeqCst);
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        stream.get_mut().write_all(answer.as_bytes()).await?;
    }
}
