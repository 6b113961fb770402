//! The host's side of the `host` and `directory` imports, written against
//! the newest version of the interface (`keystep:plugin@0.2.0`); older
//! versions delegate here (`imports_v0_1.rs`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::bindings::v0_2::directory;
use super::bindings::v0_2::host::{self, HttpRequest, HttpResponse};
use super::bindings::v0_2::types::{self, Error, Level};
use super::egress::FetchError;
use super::sandbox::HostState;
use crate::text::escape;

fn error(code: &str, message: impl Into<String>, retryable: bool) -> Error {
    Error {
        code: code.into(),
        message: message.into(),
        retryable,
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    /// A line costs what it takes on stderr, its tag and line break too,
    /// so that empty lines are not free; it is scrubbed and escaped.
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let name = &self.plugin.name;
        let budget = self.plugin.grants.limits.log_bytes;
        let cost =
            |message: &str| "[plugin ] : \n".len() + name.len() + level.len() + message.len();
        // The line as sent first, so that a flood past the budget is
        // dropped before any work is done on it; then as printed.
        if self.log_used + cost(&message) > budget {
            self.log_dropped += 1;
            return;
        }
        let scrubbed = self.scrub(&message);
        let message = escape(&scrubbed);
        if self.log_used + cost(&message) > budget {
            self.log_dropped += 1;
            return;
        }
        self.log_used += cost(&message);
        super::log_line(name, level, &message);
    }

    fn http_fetch(&mut self, request: HttpRequest) -> Result<HttpResponse, Error> {
        if self.offline {
            return Err(error(
                "denied",
                format!("{}: keystep test reaches nothing outside", request.url),
                false,
            ));
        }
        let Some(egress) = &self.plugin.egress else {
            return Err(error(
                "denied",
                format!("{}: the plugin is granted no hosts", request.url),
                false,
            ));
        };
        // Host I/O is not interrupted by the epoch deadline, so it gets its
        // own timeout: what is left of the call's time, or less if asked.
        let left = self.deadline.saturating_duration_since(Instant::now());
        let timeout = request
            .timeout_ms
            .map_or(left, |ms| left.min(Duration::from_millis(ms.into())));
        if timeout.is_zero() {
            return Err(error("unavailable", "the call has no time left", true));
        }
        let max_body = self.plugin.grants.limits.output_bytes.max(1 << 20);
        let started = Instant::now();
        let answer = egress.fetch(
            &request.method,
            &request.url,
            &request.headers,
            request.body,
            timeout,
            max_body,
        );
        self.http.requests += 1;
        self.http.time += started.elapsed();
        answer
            .map(|r| HttpResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(|e| match e {
                FetchError::Denied(m) => error("denied", m, false),
                FetchError::Invalid(m) => error("invalid-argument", m, false),
                FetchError::Unavailable(m) => error("unavailable", m, true),
            })
    }

    /// The value read when the call began: the host keeps one copy, however
    /// often it is asked for.
    fn secret(&mut self, name: String) -> Result<String, Error> {
        match self.secrets.get(&name) {
            Some(Ok(value)) => Ok(value.to_string()),
            Some(Err(why)) => Err(error(
                "unavailable",
                format!("secret `{name}`: {why}"),
                false,
            )),
            None => Err(error(
                "denied",
                format!("secret `{name}` is not granted to this plugin"),
                false,
            )),
        }
    }

    fn config(&mut self) -> String {
        serde_json::Value::Object(self.plugin.grants.config.clone()).to_string()
    }
}

impl directory::Host for HostState {
    fn get_user(&mut self, id: String) -> Result<Option<String>, Error> {
        let dir = self.directory()?;
        dir.get_user(&id)
            .map(|u| u.map(|u| u.to_string()))
            .map_err(|m| error("unavailable", m, true))
    }

    fn find_users(&mut self, filter: String, limit: u32) -> Result<Vec<String>, Error> {
        let dir = self.directory()?;
        let filter: serde_json::Value = serde_json::from_str(&filter)
            .map_err(|e| error("invalid-argument", format!("filter: {e}"), false))?;
        let Some(filter) = filter.as_object() else {
            return Err(error(
                "invalid-argument",
                "filter must be a JSON object",
                false,
            ));
        };
        dir.find_users(filter, limit)
            .map(|users| users.iter().map(ToString::to_string).collect())
            .map_err(|m| error("invalid-argument", m, false))
    }

    fn list_grants(&mut self, user_id: String) -> Result<Vec<String>, Error> {
        let dir = self.directory()?;
        dir.list_grants(&user_id)
            .map(|grants| grants.iter().map(ToString::to_string).collect())
            .map_err(|m| error("unavailable", m, true))
    }

    /// Level by level down the org chart, each user once: a cycle ends the
    /// walk, and it stops at [`MOST_REPORTS`].
    fn list_reports(&mut self, user_id: String, depth: u32) -> Result<Vec<String>, Error> {
        let dir = self.directory()?;
        let mut seen = HashSet::from([user_id.clone()]);
        let mut found = Vec::new();
        let mut level = vec![user_id];
        for _ in 0..depth {
            let mut below = Vec::new();
            for manager in &level {
                let filter = serde_json::json!({ "manager_id": manager });
                let filter = filter.as_object().expect("an object");
                let reports = dir
                    .find_users(filter, MOST_REPORTS as u32)
                    .map_err(|m| error("unavailable", m, true))?;
                for report in reports {
                    let Some(id) = report["id"].as_str() else {
                        continue;
                    };
                    if found.len() < MOST_REPORTS && seen.insert(id.to_string()) {
                        below.push(id.to_string());
                        found.push(report.to_string());
                    }
                }
            }
            if below.is_empty() {
                break;
            }
            level = below;
        }
        Ok(found)
    }
}

/// The most users `list-reports` answers with.
const MOST_REPORTS: usize = 10_000;

impl HostState {
    fn directory(&self) -> Result<std::sync::Arc<dyn super::DirectoryAccess>, Error> {
        self.directory
            .clone()
            .ok_or_else(|| error("unavailable", "no directory in this call", false))
    }
}
