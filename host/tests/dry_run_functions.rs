//! A dry run is the real engine on a copy of the store with effects
//! recorded. A function called in a dry run reads that copy through its
//! `directory` import, so it sees the run's own earlier changes; the store
//! itself is never touched.
//!
//! Needs the example plugins built (`bash plugins/build.sh examples/plugins`,
//! which `scripts/test` runs first).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keystep::automation::{catalog::Catalog, parse};
use keystep::directory::{Directory, import};
use keystep::effects::Functions;
use keystep::engine::{Engine, Quiet};
use keystep::plugins::Plugins;
use keystep::store::runs::{self, RunState};
use keystep::store::{Keep, Store};
use serde_json::{Value as Json, json};

const AUTOMATION: &str = r#"name: score-after-disable
trigger: manual
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
  - id: score
    call_function: { function: risk-rust, input: { user_id: "{{ ctx.run.subject }}" } }
"#;

fn seed(store: &Store) {
    let seed = json!({
        "users": [{"id": "u-ada", "display_name": "Ada", "email": "ada@example.com"}],
        "apps": [{"id": "aws", "name": "AWS", "entitlements": [
            {"slug": "admin", "name": "Admin"}, {"slug": "billing", "name": "Billing"}]}],
        "grants": [{"user": "u-ada", "entitlement": "aws:admin"},
                   {"user": "u-ada", "entitlement": "aws:billing"}],
    });
    let file = import::parse(Path::new("seed.json"), &seed.to_string()).unwrap();
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

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins")
}

/// Runs the automation dry on a copy of `store`, with the example
/// plugins; the score step's output.
fn dry_score(store: &Store, copy: &Path, cache: &Path, functions: Functions) -> Json {
    dry_score_in(store, copy, &examples(), cache, functions)
}

/// [`dry_score`] with the plugins of `folder`.
fn dry_score_in(
    store: &Store,
    copy: &Path,
    folder: &Path,
    cache: &Path,
    functions: Functions,
) -> Json {
    store.copy_to(copy).unwrap();
    let dry = Store::open(copy).unwrap();
    let plugins = Arc::new(Plugins::new(
        vec![folder.to_path_buf()],
        cache.to_path_buf(),
    ));
    let engine = Engine::builder(dry.clone(), Catalog::new(Vec::new()))
        .plugins(plugins)
        .dry_run(functions)
        .build();
    let automation = Arc::new(parse(Path::new("a.yaml"), AUTOMATION).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let run = runtime.block_on(async {
        let trigger = engine.trigger(json!({"user_id": "u-ada"})).unwrap();
        let id = engine.start(automation, trigger).await.unwrap().id;
        engine.drive(Arc::new(Quiet)).await.unwrap();
        engine.load(id).unwrap().unwrap()
    });
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    run.outputs["score"].clone()
}

fn count(store: &Store, sql: &str) -> i64 {
    store
        .reader()
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_function_in_a_dry_run_sees_the_runs_own_changes_and_the_store_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("keystep.db")).unwrap();
    seed(&store);
    let (cache, events) = (
        dir.path().join("cache"),
        count(&store, "SELECT count(*) FROM events"),
    );

    let called = dry_score(&store, &dir.path().join("dry1.db"), &cache, Functions::Call);
    let reasons = called["reasons"].to_string();
    assert!(
        reasons.contains("disabled user still holds 2 grants"),
        "the function read the copy after `disable`: {called}"
    );

    let recorded = dry_score(
        &store,
        &dir.path().join("dry2.db"),
        &cache,
        Functions::Record,
    );
    assert_eq!(recorded["dry_run"], "would call function `risk-rust`");

    // `keystep run --dry-run`: a function granted no hosts reaches nothing
    // outside, so it is called; the same one granted a host is recorded.
    let offline = dry_score(
        &store,
        &dir.path().join("dry3.db"),
        &cache,
        Functions::Offline,
    );
    assert_eq!(offline["reasons"], called["reasons"], "{offline}");
    let granted = dir.path().join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    std::fs::copy(
        examples().join("risk-rust.wasm"),
        granted.join("risk-rust.wasm"),
    )
    .unwrap();
    std::fs::write(
        granted.join("risk-rust.toml"),
        "allow_hosts = [\"https://api.example.com\"]\n",
    )
    .unwrap();
    let dry4 = dir.path().join("dry4.db");
    let recorded = dry_score_in(&store, &dry4, &granted, &cache, Functions::Offline);
    assert_eq!(recorded["dry_run"], "would call function `risk-rust`");

    // The store itself: no run, no change, Ada still active.
    let filter = runs::RunFilter {
        limit: 10,
        ..Default::default()
    };
    let listed = store.read(|tx| tx.runs().list(&filter)).unwrap();
    assert!(listed.is_empty());
    assert_eq!(count(&store, "SELECT count(*) FROM events"), events);
    assert_eq!(
        count(&store, "SELECT count(*) FROM users WHERE status = 'active'"),
        1
    );
}
