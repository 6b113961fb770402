//! The test servers of `tests/servers/`, each started on a free port by its
//! Python script and killed when dropped: Tracker (the tracker connector),
//! an SMTP server, the Slack Web API and a Standard Webhooks receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

use crate::repo;

/// A script of `tests/servers/` running on its own port, killed on drop.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    /// Starts `tests/servers/<script>` with `--port 0` and `args`, and waits
    /// for its `listening 127.0.0.1:<port>` line.
    fn start(script: &str, args: &[&str]) -> Process {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/servers").join(script))
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs tests/servers/{script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening 127.0.0.1:")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{script} did not start ({line:?}); are its packages installed? \
                 pip install -r tests/servers/requirements.txt"
            );
        };
        Process { child, port }
    }

    /// A request to a test-only endpoint; asserts 200 and returns the body.
    fn call(&self, method: &str, path: &str, body: &str) -> String {
        let (status, answer) = http(self.port, method, path, body);
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    /// `GET path`, parsed as JSON.
    fn get_json(&self, path: &str) -> Json {
        let body = self.call("GET", path, "");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to `127.0.0.1:port` (a JSON body when not empty);
/// the answer's status and body.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with(port, method, path, &[], body)
}

/// [`http`] with extra request headers.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {status:?}"));
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer).unwrap();
    (code, String::from_utf8(answer).unwrap())
}

/// A port on 127.0.0.1 where nothing listens (it was free a moment ago).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The token the test Tracker wants; it must never show in keystep's output.
pub const TRACKER_TOKEN: &str = "s3cr3t-tracker-token";

/// `tests/servers/tracker.py` on a free port, killed on drop.
pub struct Tracker(Process);

impl Tracker {
    /// Starts Tracker with [`TRACKER_TOKEN`].
    pub fn start() -> Tracker {
        Tracker::with_token(TRACKER_TOKEN)
    }

    pub fn with_token(token: &str) -> Tracker {
        Tracker(Process::start("tracker.py", &["--token", token]))
    }

    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.0.port)
    }

    /// `GET /_state`: users, groups with members, and every /api request.
    pub fn state(&self) -> Json {
        self.0.get_json("/_state")
    }

    /// The /api requests seen so far: `[{method, path, idempotency_key}]`.
    pub fn requests(&self) -> Vec<Json> {
        self.state()["requests"].as_array().unwrap().clone()
    }

    /// The members of group `slug`.
    pub fn members(&self, slug: &str) -> Vec<String> {
        let state = self.state();
        let group = state["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["slug"] == slug)
            .unwrap_or_else(|| panic!("no group {slug}"));
        group["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    }

    /// Adds user `login` (`login@example.com`) through the API, with
    /// `token` as the server wants it.
    pub fn add_user(&self, token: &str, login: &str, name: &str) {
        let body = serde_json::json!({"login": login, "email": format!("{login}@example.com"), "name": name});
        let auth = format!("Bearer {token}");
        let (status, answer) = http_with(
            self.0.port,
            "POST",
            "/api/users",
            &[("Authorization", &auth)],
            &body.to_string(),
        );
        assert_eq!(status, 201, "adding {login}: {answer}");
    }

    /// The next `n` /api requests answer 503.
    pub fn fail_next(&self, n: u32) {
        self.0.call("POST", &format!("/_fail?n={n}"), "");
    }

    /// From now on Tracker is careless with credentials: every /api answer
    /// carries the Authorization header it got (in `authorization`, and at
    /// the end of an `error`), so a connector passes the token on.
    pub fn echo_auth(&self) {
        self.0.call("POST", "/_echo_auth", "");
    }

    /// A grant file (`tracker.toml`) for the tracker connector: this
    /// server's address, and the token from `$env_var`.
    pub fn grants(&self, env_var: &str) -> String {
        format!(
            "allow_hosts = [\"{url}\"]\nsecrets = {{ tracker_token = \"env:{env_var}\" }}\n\
             [config]\nbase_url = \"{url}\"\n",
            url = self.url()
        )
    }
}

/// The only account `tests/servers/smtp.py` accepts, as the tests start it.
pub const SMTP_USER: &str = "keystep";

/// `tests/servers/smtp.py`: a real SMTP server wanting AUTH, with its own
/// CA and a spool of the messages it accepted.
pub struct SmtpServer {
    process: Process,
    /// `certs/` (ca.pem, server.pem, server.key) and `spool/`.
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server in `mode` (`starttls`, `tls` or `plain`), accepting
    /// [`SMTP_USER`] with `password`; `RCPT TO` refuses each of `reject`.
    pub fn start(mode: &str, password: &str, reject: &[&str]) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs").display().to_string();
        let spool = dir.path().join("spool").display().to_string();
        let mut args = vec![
            "--user",
            SMTP_USER,
            "--password",
            password,
            "--mode",
            mode,
            "--cert-dir",
            &certs,
            "--spool",
            &spool,
        ];
        for address in reject {
            args.extend(["--reject", address]);
        }
        SmtpServer {
            process: Process::start("smtp.py", &args),
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// The CA that signed the server's certificate (PEM).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("certs/ca.pem")
    }

    /// Every message accepted so far, in order: `{mail_from, rcpt_tos,
    /// data, auth_user, tls}`.
    pub fn messages(&self) -> Vec<Json> {
        let spool = self.dir.path().join("spool");
        let mut numbered: Vec<(u32, PathBuf)> = match std::fs::read_dir(&spool) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path())
                .filter_map(|p| {
                    let n = p
                        .file_name()?
                        .to_str()?
                        .strip_suffix(".json")?
                        .parse()
                        .ok()?;
                    Some((n, p))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        numbered.sort();
        numbered
            .iter()
            .map(|(_, p)| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

/// `tests/servers/slack.py`: the Slack Web API with a seeded workspace.
pub struct SlackServer(Process);

impl SlackServer {
    /// Starts it wanting the bot token `token`.
    pub fn start(token: &str) -> SlackServer {
        SlackServer(Process::start("slack.py", &["--token", token]))
    }

    /// The Web API's base URL, for `slack.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.0.port)
    }

    /// `GET /_state`: `{messages, calls}`.
    pub fn state(&self) -> Json {
        self.0.get_json("/_state")
    }

    /// Every Web API call so far: `{method, params, authorized, status, error}`.
    pub fn calls(&self) -> Vec<Json> {
        self.state()["calls"].as_array().unwrap().clone()
    }

    /// Every message posted so far: `{channel, text, blocks, ts}`.
    pub fn messages(&self) -> Vec<Json> {
        self.state()["messages"].as_array().unwrap().clone()
    }

    /// The next `n` calls of `method` answer 429 with `Retry-After: secs`.
    pub fn ratelimit(&self, method: &str, n: u32, secs: u32) {
        self.0.call(
            "POST",
            &format!("/_ratelimit?method={method}&n={n}&retry_after={secs}"),
            "",
        );
    }
}

/// `tests/servers/webhook.py`: a receiver that verifies Standard Webhooks
/// signatures with the `standardwebhooks` package.
pub struct WebhookReceiver(Process);

impl WebhookReceiver {
    /// Starts it verifying with `secret` (`whsec_<base64>`).
    pub fn start(secret: &str) -> WebhookReceiver {
        WebhookReceiver(Process::start("webhook.py", &["--secret", secret]))
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.0.port)
    }

    /// `GET /_state`: `{deliveries, attempts, script}`.
    pub fn state(&self) -> Json {
        self.0.get_json("/_state")
    }

    /// Verified deliveries: `{id, timestamp, path, body, headers}`.
    pub fn deliveries(&self) -> Vec<Json> {
        self.state()["deliveries"].as_array().unwrap().clone()
    }

    /// Every request to /hook…, 401s included: `{id, status}`.
    pub fn attempts(&self) -> Vec<Json> {
        self.state()["attempts"].as_array().unwrap().clone()
    }

    /// `POST /_script`: e.g. `{"fail": 2, "status": 503}`, `{"hang": 1}`.
    pub fn script(&self, script: &Json) {
        self.0.call("POST", "/_script", &script.to_string());
    }
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
