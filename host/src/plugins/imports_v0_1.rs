//! `keystep:plugin@0.1.0`'s imports: each converts its arguments to the
//! newest version's types, calls that version's host (`imports.rs`) and
//! converts back. Nothing of the host's own is here, so a component built
//! against 0.1.0 is served exactly as one built against the newest.

use super::bindings::v0_2;
use super::bindings::{directory, host, types};
use super::sandbox::HostState;

impl From<v0_2::types::Error> for types::Error {
    fn from(e: v0_2::types::Error) -> types::Error {
        types::Error {
            code: e.code,
            message: e.message,
            retryable: e.retryable,
        }
    }
}

fn level(level: types::Level) -> v0_2::types::Level {
    match level {
        types::Level::Trace => v0_2::types::Level::Trace,
        types::Level::Debug => v0_2::types::Level::Debug,
        types::Level::Info => v0_2::types::Level::Info,
        types::Level::Warn => v0_2::types::Level::Warn,
        types::Level::Error => v0_2::types::Level::Error,
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, at: types::Level, message: String) {
        v0_2::host::Host::log(self, level(at), message)
    }

    fn http_fetch(
        &mut self,
        request: host::HttpRequest,
    ) -> Result<host::HttpResponse, types::Error> {
        let request = v0_2::host::HttpRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        let response = v0_2::host::Host::http_fetch(self, request)?;
        Ok(host::HttpResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }

    fn secret(&mut self, name: String) -> Result<String, types::Error> {
        Ok(v0_2::host::Host::secret(self, name)?)
    }

    fn config(&mut self) -> String {
        v0_2::host::Host::config(self)
    }
}

impl directory::Host for HostState {
    fn get_user(&mut self, id: String) -> Result<Option<String>, types::Error> {
        Ok(v0_2::directory::Host::get_user(self, id)?)
    }

    fn find_users(&mut self, filter: String, limit: u32) -> Result<Vec<String>, types::Error> {
        Ok(v0_2::directory::Host::find_users(self, filter, limit)?)
    }

    fn list_grants(&mut self, user_id: String) -> Result<Vec<String>, types::Error> {
        Ok(v0_2::directory::Host::list_grants(self, user_id)?)
    }
}
