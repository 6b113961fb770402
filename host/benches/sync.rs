//! The sync benchmark: `keystep::sync` of the SCIM connector
//! (`examples/plugins/scim.wasm`) against a real `scim2-server` (PyPI)
//! holding 10,000 users, 500 groups and 50,000 memberships, into a
//! directory whose 10,000 users the accounts link to by email.
//!
//! Figures: the wall time of a first sync (everything created) and of a
//! sync that changes nothing; the requests; where the time went (waiting
//! for HTTP inside the plugin's calls, the plugin itself, reading the
//! listing, the store's write job); and, as the baseline in the same
//! process, the same pages fetched by plain Rust (`reqwest`, no plugin,
//! no store). Target: plugin and store add at most 25 % to the HTTP time.
//!
//! `cargo bench -p keystep --bench sync` (build the plugins first:
//! `bash plugins/build.sh`; `pip install -r tests/servers/requirements.txt`);
//! `KEYSTEP_BENCH_QUICK=1` syncs a twentieth of it, once.

#[allow(dead_code)]
mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Samples, Table};
use keystep::directory::{App, User};
use keystep::plugins::Plugins;
use keystep::store::{Keep, Store};
use keystep::sync::{self, Options, Quiet, Timings};
use serde_json::{Value as Json, json};

const TOKEN: &str = "bench-token-0123456789";
const PAGE: usize = 100;
const GROUP_PAGE: usize = 20;

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    // The smoke run: a twentieth of it, once.
    let (scale, samples) = match common::quick() {
        true => (20, 1),
        false => (1, common::SAMPLES),
    };
    let (users, groups, per_group) = (10_000 / scale, 500 / scale, 100);
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("BENCH_SCIM_TOKEN", TOKEN) };
    unsafe { std::env::set_var("KEYSTEP_PLUGIN_LOG", "warn") };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let wasm = root.join("examples/plugins/scim.wasm");
    assert!(
        wasm.is_file(),
        "scim.wasm is missing: run `bash plugins/build.sh` first"
    );
    let server = start_server();
    let base = format!("http://127.0.0.1:{}", server.1);
    let filled = Instant::now();
    let ids = fill(&base, users, groups, per_group);
    println!(
        "scim2-server: {users} users, {groups} groups, {} memberships (filled in {:.1} s)",
        groups * per_group,
        filled.elapsed().as_secs_f64()
    );
    let work = tempfile::tempdir().unwrap();
    let plugins_dir = work.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    std::fs::copy(&wasm, plugins_dir.join("scim.wasm")).unwrap();
    std::fs::write(
        plugins_dir.join("bench.toml"),
        format!(
            "component = \"scim.wasm\"\nallow_hosts = [\"{base}\"]\n\
             secrets = {{ scim_token = \"env:BENCH_SCIM_TOKEN\" }}\n\
             [config]\nbase_url = \"{base}\"\npage_size = {PAGE}\ngroup_page_size = {GROUP_PAGE}\n\
             [limits]\ntimeout_ms = 60000\noutput_kb = 16384\n"
        ),
    )
    .unwrap();
    let plugins = Plugins::new(vec![plugins_dir], root.join("target/bench-plugin-cache"));
    let mut first = Vec::new();
    let mut unchanged = Vec::new();
    let mut bare = Samples::default();
    for sample in 0..samples {
        let store = Store::open(&work.path().join(format!("sample-{sample}.db"))).unwrap();
        directory(&store, users);
        bare.push(bare_listing(&base, users, groups) * 1000.0);
        let report = sync::sync(&plugins, &store, "bench", Options::default(), &Quiet).unwrap();
        assert_eq!(report.summary.accounts_created, ids.len());
        assert_eq!(report.summary.grants_added, groups * per_group);
        first.push(report.timings);
        let report = sync::sync(&plugins, &store, "bench", Options::default(), &Quiet).unwrap();
        assert!(report.changes.is_empty());
        unchanged.push(report.timings);
    }
    let mut table = Table::new();
    table.row("bare listing, plain Rust HTTP (ms)", &bare, 0, "baseline");
    for (name, runs) in [("first sync", &first), ("unchanged sync", &unchanged)] {
        let figure = |f: fn(&Timings) -> f64| {
            let mut s = Samples::default();
            runs.iter().for_each(|t| s.push(f(t)));
            s
        };
        table.row(format!("{name}: wall (ms)"), &figure(|t| t.total_ms), 0, "");
        table.row(
            format!("{name}: requests"),
            &figure(|t| t.requests as f64),
            0,
            "",
        );
        table.row(
            format!("{name}: HTTP in the plugin (ms)"),
            &figure(|t| t.http_ms),
            0,
            "",
        );
        table.row(
            format!("{name}: plugin, HTTP excluded (ms)"),
            &figure(|t| t.plugin_ms),
            0,
            "",
        );
        table.row(
            format!("{name}: reading the listing (ms)"),
            &figure(|t| t.listing_ms),
            0,
            "",
        );
        table.row(
            format!("{name}: store job (ms)"),
            &figure(|t| t.store_ms),
            0,
            "",
        );
        let over = |t: &Timings| 100.0 * (t.plugin_ms + t.listing_ms + t.store_ms) / t.http_ms;
        table.row(
            format!("{name}: plugin+store over HTTP (%)"),
            &figure(over),
            1,
            "<= 25",
        );
    }
    table.print();
}

/// `scim2-server` on a free port, once it accepts connections.
fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args(["-c", "from scim2_server.testserver.cli import main; main()"])
        .args(["--port", &port.to_string(), "--bearer-token", TOKEN])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs scim2-server (pip install -r tests/servers/requirements.txt)");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "scim2-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child, port)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn call(client: &reqwest::blocking::Client, method: &str, url: &str, body: Option<&Json>) -> Json {
    let mut request = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let answer = request.send().unwrap();
    let status = answer.status();
    let text = answer.text().unwrap();
    assert!(status.is_success(), "{method} {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Json::Null)
}

/// `users` users and `groups` groups of `per_group` members each (every
/// user in `groups * per_group / users` groups), four writers at a time;
/// the users' SCIM ids.
fn fill(base: &str, users: usize, groups: usize, per_group: usize) -> Vec<String> {
    let base = Arc::new(base.to_string());
    let each = |n: usize, make: Arc<dyn Fn(usize) -> Json + Send + Sync>, path: &'static str| {
        let lanes: Vec<_> = (0..4)
            .map(|lane| {
                let (base, make) = (base.clone(), make.clone());
                std::thread::spawn(move || {
                    let client = client();
                    (lane..n)
                        .step_by(4)
                        .map(|i| {
                            (
                                i,
                                call(&client, "POST", &format!("{base}{path}"), Some(&make(i))),
                            )
                        })
                        .map(|(i, made)| (i, made["id"].as_str().unwrap().to_string()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids: Vec<(usize, String)> =
            lanes.into_iter().flat_map(|l| l.join().unwrap()).collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect::<Vec<String>>()
    };
    let user = |i: usize| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("user{i}"),
            "name": {"givenName": "User", "familyName": format!("{i}")},
            "emails": [{"value": format!("user{i}@example.com"), "primary": true}],
            "title": "Engineer",
            "active": true,
        })
    };
    let ids = Arc::new(each(users, Arc::new(user), "/Users"));
    let members = ids.clone();
    let group = move |g: usize| {
        let members: Vec<Json> = (0..per_group)
            .map(|m| json!({"value": members[(g * per_group + m) % members.len()], "type": "User"}))
            .collect();
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("group {g}"),
            "members": members,
        })
    };
    each(groups, Arc::new(group), "/Groups");
    Arc::try_unwrap(ids).unwrap()
}

/// The directory: `users` people with the emails of the SCIM users, and
/// the app `bench` served by the connector instance `bench`.
fn directory(store: &Store, users: usize) {
    store
        .write_blocking(Keep::IfOk, move |tx| {
            let dir = tx.directory("bench");
            for i in 0..users {
                dir.put_user(&User {
                    id: format!("u{i}"),
                    email: Some(format!("user{i}@example.com")),
                    display_name: format!("User {i}"),
                    username: None,
                    status: "active".into(),
                    manager_id: None,
                    department: None,
                    title: None,
                    attributes: json!({}),
                })?;
            }
            dir.put_app(&App {
                id: "bench".into(),
                name: "Bench".into(),
                owner_id: None,
                connector: Some("bench".into()),
                description: None,
            })?;
            Ok::<_, keystep::directory::DirError>(())
        })
        .unwrap();
}

/// The pages the connector asks for, fetched and parsed by plain Rust;
/// seconds.
fn bare_listing(base: &str, users: usize, groups: usize) -> f64 {
    let client = client();
    let started = Instant::now();
    // Each kind's first page asks whether the server pages by cursor.
    let mut pages = vec![format!("{base}/ServiceProviderConfig"); 4];
    for start in (1..=users).step_by(PAGE) {
        pages.push(format!("{base}/Users?startIndex={start}&count={PAGE}"));
    }
    for (only, size) in [
        ("id,displayName", PAGE),
        ("id,displayName", PAGE),
        ("id,members", GROUP_PAGE),
    ] {
        for start in (1..=groups).step_by(size) {
            pages.push(format!(
                "{base}/Groups?startIndex={start}&count={size}&attributes={only}"
            ));
        }
    }
    for page in &pages {
        let answer = call(&client, "GET", page, None);
        assert!(answer.is_object());
    }
    started.elapsed().as_secs_f64()
}
