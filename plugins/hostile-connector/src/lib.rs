//! A connector (world `connector-plugin`) that misbehaves on purpose, to
//! test the host's sandbox. What it does is read from `host.config()`, so
//! one file copied under several names plays several connectors:
//!
//! - `info_name`: the name `info` gives (default `hostile-connector`).
//! - `info_loop`: `info` spins forever.
//! - `info_huge_mb`: `info`'s description is this many MiB.
//! - `info_count`: `info` first appends a line to `/scratch/info-calls`.
//! - `writes`: `[{path, text}]`, written by every export before it does
//!   anything else (errors ignored), to reach for files it should not.
//! - `error_mb`: `grant`, `revoke` and `invoke-action` fail with a message
//!   of this many MiB.
//! - `account_kb`: `create-account` returns an id and a login of this many
//!   KiB.
//! - `mark`: returned in every result, to tell the copies apart.
//!
//! Actions (`invoke-action`): `probe` reads `path` (default
//! `/scratch/secret.txt`) and returns `{mark, read}` or `{mark, error}`;
//! `fill` writes `files` files of `kb` KiB into `/scratch/fill/` and returns
//! how many it wrote, stopping at the first error.

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "connector-plugin",
});

use exports::keystep::plugin::connector::{
    AccessChange, Account, AccountRequest, ActionSchema, Capability, ConnectorInfo, Guest, Page,
    SyncKind,
};
use keystep::plugin::host;
use keystep::plugin::types::Error;
use serde_json::{Value, json};

struct HostileConnector;

impl Guest for HostileConnector {
    fn info() -> ConnectorInfo {
        let config = start();
        if config["info_count"].as_bool() == Some(true) {
            use std::io::Write;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open("/scratch/info-calls");
            if let Ok(mut file) = file {
                let _ = file.write_all(b"info\n");
            }
        }
        if config["info_loop"].as_bool() == Some(true) {
            spin();
        }
        let mib = config["info_huge_mb"].as_u64().unwrap_or(0) as usize;
        let description = if mib > 0 {
            "x".repeat(mib << 20)
        } else {
            "a connector that misbehaves on purpose".into()
        };
        let any = json!({"type": "object"}).to_string();
        ConnectorInfo {
            name: config["info_name"]
                .as_str()
                .unwrap_or("hostile-connector")
                .into(),
            version: "0.1.0".into(),
            description,
            capabilities: vec![
                Capability::Provision,
                Capability::AccountProvisioning,
                Capability::Actions,
            ],
            actions: ["probe", "fill", "error"]
                .into_iter()
                .map(|name| ActionSchema {
                    name: name.into(),
                    description: format!("{name} (see the source)"),
                    arguments: any.clone(),
                })
                .collect(),
            account_schema: Some(any),
        }
    }

    fn sync(_kind: SyncKind, _cursor: Option<String>) -> Result<Page, Error> {
        start();
        Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        })
    }

    fn grant(_change: AccessChange) -> Result<String, Error> {
        answer(&start())
    }

    fn revoke(_change: AccessChange) -> Result<String, Error> {
        answer(&start())
    }

    fn create_account(_request: AccountRequest) -> Result<Account, Error> {
        let config = start();
        let kb = config["account_kb"].as_u64().unwrap_or(0) as usize;
        let long = "a".repeat(kb << 10);
        Ok(Account {
            id: format!("id-{long}"),
            login: format!("login-{long}"),
            profile: json!({"mark": config["mark"]}).to_string(),
            already_existed: false,
        })
    }

    fn invoke_action(name: String, arguments: String, _key: String) -> Result<String, Error> {
        let config = start();
        let args: Value = serde_json::from_str(&arguments).unwrap_or_default();
        let mark = &config["mark"];
        match name.as_str() {
            "probe" => {
                let path = args["path"].as_str().unwrap_or("/scratch/secret.txt");
                Ok(match std::fs::read_to_string(path) {
                    Ok(read) => json!({"mark": mark, "read": read}),
                    Err(e) => json!({"mark": mark, "error": e.to_string()}),
                }
                .to_string())
            }
            "fill" => {
                let files = args["files"].as_u64().unwrap_or(1);
                let block = vec![b'f'; (args["kb"].as_u64().unwrap_or(1) as usize) << 10];
                let _ = std::fs::create_dir_all("/scratch/fill");
                let mut written = 0;
                for i in 0..files {
                    if std::fs::write(format!("/scratch/fill/{i}"), &block).is_err() {
                        break;
                    }
                    written += 1;
                }
                Ok(json!({"mark": mark, "written": written}).to_string())
            }
            _ => answer(&config),
        }
    }
}

/// Reads the config and does the `writes` it asks for.
fn start() -> Value {
    let config: Value = serde_json::from_str(&host::config()).unwrap_or_default();
    for write in config["writes"].as_array().into_iter().flatten() {
        if let (Some(path), Some(text)) = (write["path"].as_str(), write["text"].as_str()) {
            let _ = std::fs::write(path, text);
        }
    }
    config
}

/// `{mark}`, or the huge error `error_mb` asks for.
fn answer(config: &Value) -> Result<String, Error> {
    let mib = config["error_mb"].as_u64().unwrap_or(0) as usize;
    if mib > 0 {
        return Err(Error {
            code: "huge".into(),
            message: "e".repeat(mib << 20),
            retryable: false,
        });
    }
    Ok(json!({"mark": config["mark"]}).to_string())
}

/// Spins forever: the volatile read keeps the loop from being optimised away.
fn spin() -> ! {
    let flag = 0u8;
    loop {
        // SAFETY: `flag` is a live local; a volatile read of it is always valid.
        if unsafe { core::ptr::read_volatile(&flag) } == 1 {
            break;
        }
    }
    unreachable!()
}

export!(HostileConnector);
