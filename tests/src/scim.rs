//! A real SCIM 2.0 service provider for the SCIM connector's tests:
//! `scim2-server` (PyPI, tests/servers/requirements.txt), RFC 7643 Users
//! and Groups in memory behind a bearer token, started on a free port and
//! killed on drop. The tests read its state over HTTP directly, not
//! through keystep.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::servers::{closed_port, http_with};

pub struct ScimServer {
    child: Child,
    port: u16,
    token: String,
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ScimServer {
    /// `scim2-server --bearer-token TOKEN` on a free port, once it accepts
    /// connections.
    pub fn start(token: &str) -> ScimServer {
        let port = closed_port();
        let child = Command::new("python3")
            .args(["-c", "from scim2_server.testserver.cli import main; main()"])
            .args(["--port", &port.to_string(), "--bearer-token", token])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs scim2-server");
        let server = ScimServer {
            child,
            port,
            token: token.to_string(),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "scim2-server did not start; pip install -r tests/servers/requirements.txt"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A grant file for an instance of `scim.wasm` serving this server,
    /// its token read from `$ENV_VAR`.
    pub fn instance(&self, env_var: &str) -> String {
        format!(
            "component = \"scim.wasm\"\nallow_hosts = [\"{url}\"]\n\
             secrets = {{ scim_token = \"env:{env_var}\" }}\n[config]\nbase_url = \"{url}\"\n",
            url = self.url()
        )
    }

    /// A request with the server's token; the status and the body as JSON.
    pub fn request(&self, method: &str, path: &str, body: &Json) -> (u16, Json) {
        let auth = format!("Bearer {}", self.token);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, answer) =
            http_with(self.port, method, path, &[("Authorization", &auth)], &body);
        (status, serde_json::from_str(&answer).unwrap_or(Json::Null))
    }

    /// Creates user `login` (`login@example.com`); its SCIM id.
    pub fn add_user(&self, login: &str) -> String {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": login,
            "emails": [{"value": format!("{login}@example.com"), "primary": true}],
            "active": true,
        });
        let (status, answer) = self.request("POST", "/Users", &user);
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    /// Creates group `name`; its SCIM id.
    pub fn add_group(&self, name: &str) -> String {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
        });
        let (status, answer) = self.request("POST", "/Groups", &group);
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    /// Makes user `user` a member of group `group` (ids), or no longer one.
    pub fn set_member(&self, group: &str, user: &str, member: bool) {
        let operation = match member {
            true => json!({"op": "add", "path": "members", "value": [{"value": user}]}),
            false => json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")}),
        };
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [operation],
        });
        let (status, answer) = self.request("PATCH", &format!("/Groups/{group}"), &patch);
        assert!(status == 200 || status == 204, "{status} {answer}");
    }

    /// The user whose `userName` is `login`, if any.
    pub fn user(&self, login: &str) -> Option<Json> {
        let (status, answer) = self.request("GET", "/Users?count=1000", &Json::Null);
        assert_eq!(status, 200, "{answer}");
        let users = answer["Resources"].as_array().cloned().unwrap_or_default();
        users.into_iter().find(|u| u["userName"] == login)
    }

    /// The ids of group `id`'s members.
    pub fn members(&self, id: &str) -> Vec<String> {
        let (status, answer) = self.request("GET", &format!("/Groups/{id}"), &Json::Null);
        assert_eq!(status, 200, "{answer}");
        let members = answer["members"].as_array().cloned().unwrap_or_default();
        let mut ids: Vec<String> = members
            .iter()
            .filter_map(|m| m["value"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    }
}

/// A TCP relay in front of a server that can be made to go away: while
/// cut, it closes each connection it accepts without a byte; it can cut
/// itself after a number of connections. The server behind keeps its
/// state, so a sync can be run again to finish once the relay is mended.
pub struct Relay {
    port: u16,
    shared: std::sync::Arc<RelayState>,
}

#[derive(Default)]
struct RelayState {
    relayed: std::sync::atomic::AtomicUsize,
    /// Connections relayed before it cuts itself (0: never).
    cut_after: std::sync::atomic::AtomicUsize,
    cut: std::sync::atomic::AtomicBool,
}

impl Relay {
    /// A relay on a free port to `127.0.0.1:target`.
    pub fn to(target: u16) -> Relay {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = std::sync::Arc::new(RelayState::default());
        let state = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let limit = state.cut_after.load(SeqCst);
                if limit > 0 && state.relayed.load(SeqCst) >= limit {
                    state.cut.store(true, SeqCst);
                }
                if state.cut.load(SeqCst) {
                    drop(client);
                    continue;
                }
                state.relayed.fetch_add(1, SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut c1, mut s1) = (client, server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c1, &mut s1);
                    let _ = s1.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Relay { port, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Relays `n` more connections, then goes away.
    pub fn cut_after(&self, n: usize) {
        use std::sync::atomic::Ordering::SeqCst;
        self.shared.cut_after.store(self.relayed() + n, SeqCst);
    }

    /// Relays everything again.
    pub fn mend(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.shared.cut_after.store(0, SeqCst);
        self.shared.cut.store(false, SeqCst);
    }

    /// Connections relayed so far.
    pub fn relayed(&self) -> usize {
        self.shared
            .relayed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether it has gone away.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(std::sync::atomic::Ordering::SeqCst)
    }
}
