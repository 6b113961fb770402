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
