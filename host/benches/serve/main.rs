//! `keystep serve` under load, beside a bare axum server doing the same
//! work without the engine; then serve holding 100,000 waiting runs.
//!
//! 1. **The workflow** (what a small n8n workflow does): `POST
//!    /v1/automations/decide-rust/runs?wait=10s` (and `decide-js`) with a
//!    user and their entitlements; the automation's one step calls the
//!    `decide-rust` (or `decide-js`) function, which counts the
//!    entitlements, finds the `*:admin` ones and decides approve or review;
//!    its `output:` shapes the answer. Every run, step and output is
//!    persisted. The bare side is this binary re-run as `--bare` (a process
//!    of its own, like serve): an axum handler that parses the same body,
//!    calls the same function through the same plugin host
//!    (`Plugins::blocking`, a fresh instance a call) and shapes the same
//!    answer, with no store. The load comes from this process: a reqwest
//!    client on keep-alive connections, 10 or 50 tasks each posting in a
//!    loop, each answer checked. Figures: runs/s, p50 and p99 of a
//!    request, and each server's peak resident memory under load (`VmHWM`,
//!    reset after each warm-up: compiling a plugin on its first call is
//!    left out). Engine and bare samples alternate.
//! 2. **Waiting runs** ([`waiting`]): 100,000 runs parked through the
//!    library (90,000 on a 30-day wait, 10,000 until one instant T), then
//!    serve started on that store: its resident memory once settled, and,
//!    when T comes, how late each of the 10,000 woke (its wait's end − T),
//!    p50 and p99.
//!
//! `cargo bench -p keystep --bench serve` (build the plugins first: `bash
//! plugins/build.sh`); `KEYSTEP_BENCH_QUICK=1` shortens the samples and
//! parks a tenth; `KEYSTEP_BENCH_ONLY=workflow` or `waiting` measures one,
//! `KEYSTEP_BENCH_FUNCTION=decide-rust` one function.

mod bare;
#[path = "../common/mod.rs"]
mod common;
mod server;
mod waiting;

use std::time::{Duration, Instant};

use common::{SAMPLES, Samples, Table};
use serde_json::{Value as Json, json};

use server::{Server, Setup};

/// The allocator serve uses, so that the bare server is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: [usize; 2] = [10, 50];
const FUNCTIONS: [&str; 2] = ["decide-rust", "decide-js"];

fn main() -> anyhow::Result<()> {
    if let Some(at) = std::env::args().position(|a| a == "--bare") {
        return bare::main(&std::env::args().skip(at + 1).collect::<Vec<_>>());
    }
    let quick = common::quick();
    let only = std::env::var("KEYSTEP_BENCH_ONLY").unwrap_or_default();
    let setup = Setup::new()?;
    let mut table = Table::new();
    if only.is_empty() || only == "workflow" {
        workflow(&setup, quick, &mut table)?;
    }
    if only.is_empty() || only == "waiting" {
        waiting::measure(&setup, quick, &mut table)?;
    }
    println!("\nsummary (medians of {SAMPLES}):");
    table.print();
    Ok(())
}

/// One round of load: requests answered and their latencies.
struct Round {
    answered: usize,
    took: Duration,
    latencies: Vec<Duration>,
}

/// The workflow at each concurrency, engine and bare alternating.
fn workflow(setup: &Setup, quick: bool, table: &mut Table) -> anyhow::Result<()> {
    let length = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(4)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let serve = Server::serve(setup)?;
    let bare = Server::bare(setup)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    println!(
        "keystep serve bench: the decide workflow, {} s a sample, serve at {} and bare at {}",
        length.as_secs_f64(),
        serve.address,
        bare.address
    );
    let chosen = std::env::var("KEYSTEP_BENCH_FUNCTION").unwrap_or_default();
    for function in FUNCTIONS
        .into_iter()
        .filter(|f| chosen.is_empty() || *f == chosen)
    {
        for concurrency in CONCURRENCY {
            let targets = [
                (
                    &serve,
                    format!(
                        "http://{}/v1/automations/{function}/runs?wait=10s",
                        serve.address
                    ),
                ),
                (&bare, format!("http://{}/decide/{function}", bare.address)),
            ];
            let mut rates = [Samples::default(), Samples::default()];
            let mut p50 = [Samples::default(), Samples::default()];
            let mut p99 = [Samples::default(), Samples::default()];
            for (server, url) in &targets {
                // The first call compiles the function (a JavaScript one
                // takes seconds with a cold cache): one request, waited on.
                let first = url.replace("wait=10s", "wait=60s");
                runtime.block_on(round(&client, &first, server.token(), 1, Duration::ZERO))?;
                // Warm: connected, caches filled.
                runtime.block_on(round(&client, url, server.token(), concurrency, length / 2))?;
                server.reset_peak()?;
            }
            let before = server::last_run(&setup.store())?;
            for _ in 0..SAMPLES {
                for (i, (server, url)) in targets.iter().enumerate() {
                    let r = runtime.block_on(round(
                        &client,
                        url,
                        server.token(),
                        concurrency,
                        length,
                    ))?;
                    rates[i].push_rate(r.answered, r.took);
                    let (a, b) = percentiles(r.latencies);
                    p50[i].push(a);
                    p99[i].push(b);
                }
            }
            for (i, side) in ["serve", "bare"].iter().enumerate() {
                let target = match (i, function, concurrency) {
                    (0, "decide-rust", 50) => "≥ 3,000",
                    (0, "decide-js", 50) => "≥ 1,000",
                    _ => "",
                };
                let name = format!("{function}, concurrency {concurrency}, {side}");
                table.row(format!("{name}: runs/s"), &rates[i], 0, target);
                let p99_target = if i == 0 && concurrency == 50 {
                    "≤ 50"
                } else {
                    ""
                };
                table.row(format!("{name}: p50 ms"), &p50[i], 2, "");
                table.row(format!("{name}: p99 ms"), &p99[i], 2, p99_target);
            }
            let (queued, step, output) = server::phases(&setup.store(), before)?;
            println!(
                "  {function} at concurrency {concurrency}: a run's time in serve, on average: {queued:.2} ms created → step started, {step:.2} ms the step, {output:.2} ms step → run ended"
            );
        }
    }
    for (server, name, target) in [(&serve, "serve", "≤ 200"), (&bare, "bare", "")] {
        let mut peak = Samples::default();
        peak.push(server.peak_mb()?);
        table.row(
            format!("peak resident memory under load, {name} (MB)"),
            &peak,
            1,
            target,
        );
    }
    let runs = serve.runs()?;
    println!("  serve persisted {runs} runs, every one succeeded");
    Ok(())
}

/// `concurrency` tasks posting to `url` for `length`, each answer checked.
async fn round(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    concurrency: usize,
    length: Duration,
) -> anyhow::Result<Round> {
    let started = Instant::now();
    let until = started + length;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let token = token.map(str::to_string);
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = task;
            // At least one request, whatever the length.
            while latencies.is_empty() || Instant::now() < until {
                let (body, decision) = request(n);
                n += concurrency;
                let sent = Instant::now();
                let mut post = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(token) = &token {
                    post = post.bearer_auth(token);
                }
                let answer = post.send().await?;
                let status = answer.status();
                let text = answer.text().await?;
                anyhow::ensure!(status.as_u16() == 200, "{url} answered {status}: {text}");
                let got: Json = serde_json::from_str(&text)?;
                // serve answers with the run's history, its output in it.
                let output = got.get("run").map_or(&got, |run| &run["output"]);
                anyhow::ensure!(output["decision"] == decision, "{url} decided {text}");
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    Ok(Round {
        answered: latencies.len(),
        took: started.elapsed(),
        latencies,
    })
}

/// The `n`th request's body and the decision it must get: every other user
/// asks for an admin entitlement.
fn request(n: usize) -> (String, &'static str) {
    let admin = n % 2 == 1;
    let mut entitlements = vec![
        "github:read",
        "jira:write",
        "okta:user",
        "aws:billing-read",
        "slack:member",
    ];
    if admin {
        entitlements.push("aws:admin");
    }
    let body = json!({
        "user": {"id": format!("u-{n}"), "display_name": format!("User {n}"), "email": format!("u{n}@example.com"), "department": "Engineering"},
        "entitlements": entitlements,
    });
    (body.to_string(), if admin { "review" } else { "approve" })
}

/// The p50 and p99 of `latencies`, in milliseconds.
fn percentiles(mut latencies: Vec<Duration>) -> (f64, f64) {
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.99))
}

/// The automations of the workflow, one per function.
pub fn automation(function: &str) -> String {
    format!(
        r#"name: {function}
trigger: manual
steps:
  - id: decide
    call_function:
      function: {function}
      input: {{ user: "{{{{ ctx.trigger.user }}}}", entitlements: "{{{{ ctx.trigger.entitlements }}}}" }}
output:
  user: "{{{{ ctx.trigger.user.id }}}}"
  decision: "{{{{ ctx.decide.decision }}}}"
  admin: "{{{{ ctx.decide.admin }}}}"
  message: "{{{{ ctx.decide.message }}}}"
"#
    )
}
