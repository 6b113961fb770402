//! Helpers the connector tests share. Each test file uses some of them.
#![allow(dead_code)]

use keystep_tests::{Keystep, Tracker};
use serde_json::{Value as Json, json};

/// Runs `automation` about `user` in the foreground with `--json`; returns
/// the exit code and the run's history.
pub fn run(k: &Keystep, automation: &str, user: &str) -> (i32, Json) {
    let input = json!({ "user_id": user }).to_string();
    let ran = k.run(&["--json", "run", automation, "--input", &input]);
    assert!(ran.code == 0 || ran.code == 1, "{ran:?}");
    (ran.code, ran.json())
}

/// The entitlements `user` holds in the directory.
pub fn held(k: &Keystep, user: &str) -> Vec<String> {
    let db = k.db();
    let mut stmt = db
        .prepare("SELECT entitlement_id FROM grants WHERE user_id = ?1 ORDER BY entitlement_id")
        .unwrap();
    stmt.query_map([user], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// (state, [history actions]) of task `id`.
pub fn task(k: &Keystep, id: i64) -> (String, Vec<String>) {
    let db = k.db();
    let state = db
        .query_row("SELECT state FROM tasks WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let mut stmt = db
        .prepare("SELECT action FROM task_history WHERE task_id = ?1 ORDER BY rowid")
        .unwrap();
    let actions = stmt
        .query_map([id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (state, actions)
}

/// The `detail` of task `id`'s history entry `action`, as JSON.
pub fn history_detail(k: &Keystep, id: i64, action: &str) -> Json {
    let detail: String = k
        .db()
        .query_row(
            "SELECT detail FROM task_history WHERE task_id = ?1 AND action = ?2",
            rusqlite::params![id, action],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str(&detail).unwrap()
}

/// (method, path, idempotency key) of each request Tracker saw.
pub fn requests(tracker: &Tracker) -> Vec<(String, String, Json)> {
    tracker
        .requests()
        .into_iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["idempotency_key"].clone(),
            )
        })
        .collect()
}

pub fn req(method: &str, path: &str, key: &str) -> (String, String, Json) {
    (method.to_string(), path.to_string(), json!(key))
}

pub const OFFBOARD: &str = r#"
name: offboard
trigger: manual
steps:
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all }
"#;
