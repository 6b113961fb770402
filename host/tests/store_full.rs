//! A store that runs out of room during a step: the step's transaction rolls
//! back, the attempt is recorded as a retryable failure, and once there is
//! room again the retry does the work once.
//!
//! The full disk is SQLite's `max_page_count` on the engine's own
//! connection: SQLite reports a write that hits it with `SQLITE_FULL`, the
//! same code it returns when the file system answers ENOSPC, and the
//! statement and its transaction fail the same way; unlike a small tmpfs, it
//! needs no privileges and fails at a chosen point.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use keystep::automation::{catalog::Catalog, parse};
use keystep::directory::{Directory, import};
use keystep::engine::{Clock, Engine, Quiet};
use keystep::store::runs::{AttemptState, RunState};
use keystep::store::{Keep, Store};
use serde_json::json;

const GRANTS: usize = 300;

const REVOKE: &str = r#"name: revoke
trigger: manual
steps:
  - id: revoke
    revoke_entitlements: { user: subject, entitlements: all }
    retry: { attempts: 3, backoff: 1m }
"#;

/// One user holding `GRANTS` entitlements of one app.
fn seed(store: &Store) {
    let entitlements: Vec<_> = (0..GRANTS)
        .map(|i| json!({"slug": format!("e{i}"), "name": format!("E{i}")}))
        .collect();
    let grants: Vec<_> = (0..GRANTS)
        .map(|i| json!({"user": "u-ada", "entitlement": format!("app:e{i}")}))
        .collect();
    let seed = json!({
        "users": [
            {"id": "u-ada", "display_name": "Ada", "email": "ada@example.com"},
            {"id": "u-owner", "display_name": "Owner", "email": "owner@example.com"}
        ],
        "apps": [{"id": "app", "name": "App", "owner": "u-owner", "entitlements": entitlements}],
        "grants": grants,
    });
    let file = import::parse(std::path::Path::new("seed.json"), &seed.to_string()).unwrap();
    store
        .write_sql_blocking(Keep::IfOk, move |conn| {
            import::apply(
                &Directory::new(conn, "test".into()),
                &file,
                import::Options::default(),
            )
            .map(drop)
        })
        .unwrap();
}

fn count(store: &Store, sql: &str) -> i64 {
    store
        .reader()
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Sets a pragma on the store's write connection, the one steps write on.
fn on_the_writer(store: &Store, pragma: String) {
    store
        .write_sql_blocking(Keep::IfOk, move |conn| {
            conn.execute_batch(&pragma)
                .map_err(keystep::error::Error::from)
        })
        .unwrap();
}

fn engine_at(store: &Store, now: chrono::DateTime<Utc>) -> Engine {
    Engine::builder(store.clone(), Catalog::new(Vec::new()))
        .clock(Clock::Fixed(now))
        .build()
}

#[test]
fn a_full_store_during_a_step_is_a_retryable_failure_that_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("keystep.db")).unwrap();
    seed(&store);
    let automation = Arc::new(parse(Path::new("revoke.yaml"), REVOKE).unwrap());
    let now = Utc::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = engine_at(&store, now);
    let id = runtime
        .block_on(engine.start(automation, json!({"user_id": "u-ada"})))
        .unwrap()
        .id;

    // A few pages of room: enough to record a failure, not the step's tasks.
    let pages = count(&store, "PRAGMA page_count");
    on_the_writer(&store, format!("PRAGMA max_page_count = {}", pages + 4));
    runtime.block_on(engine.drive(Arc::new(Quiet))).unwrap();
    let run = engine.load(id).unwrap().unwrap();
    let attempts = store.read(|tx| tx.runs().attempts(id)).unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    let error = attempts[0].error.clone().unwrap_or_default();
    assert_eq!(attempts[0].state, AttemptState::Failed);
    assert!(error.contains("full"), "{error}");
    assert_eq!(attempts[0].retryable, Some(true), "{error}");
    assert_eq!(run.state, RunState::Waiting, "retried later: {run:?}");
    assert_eq!(count(&store, "SELECT count(*) FROM tasks"), 0);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM events WHERE kind = 'task_created'"
        ),
        0
    );

    // Room again, and the backoff has passed: the retry does the work once.
    on_the_writer(&store, "PRAGMA max_page_count = 1073741823".into());
    let engine = engine_at(&store, now + TimeDelta::minutes(2));
    runtime.block_on(engine.drive(Arc::new(Quiet))).unwrap();
    let run = engine.load(id).unwrap().unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(
        count(&store, "SELECT count(*) FROM tasks WHERE kind = 'revoke'"),
        GRANTS as i64
    );
    let integrity: String = store
        .reader()
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
