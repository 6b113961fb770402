//! `keystep sync` with the SCIM connector against a real SCIM 2.0 server
//! (`scim2-server`): accounts, entitlements and grants brought in with
//! their events, a re-run that changes nothing, changes upstream followed
//! (a member leaves, an account goes), a dry run that writes nothing, the
//! mass-removal guard, a server that goes away mid-sync, a kill inside the
//! sync's transaction, and serve's `sync_every`.

use std::time::{Duration, Instant};

use keystep_tests::{Keystep, Relay, ScimServer};
use serde_json::Value as Json;

const TOKEN: &str = "zoom-token-0123456789abcdef";

/// A working directory with the instance `zoom` of `scim.wasm` reaching
/// the server at `url` (paging by two), and the app `zoom` it serves;
/// directory users Ada and Alan.
fn keystep_for(server: &ScimServer, url: &str) -> Keystep {
    keystep_with(server, url, "")
}

/// [`keystep_for`], with `top` first in the instance's grant file.
fn keystep_with(server: &ScimServer, url: &str, top: &str) -> Keystep {
    let k = Keystep::new();
    k.with_plugins(&["scim"]);
    let grants = server.instance("ZOOM_TOKEN").replace(&server.url(), url);
    let grants = format!("{top}{grants}page_size = 2\ngroup_page_size = 1\n");
    k.write("plugins/zoom.toml", &grants);
    k.env("ZOOM_TOKEN", TOKEN);
    k.write(
        "directory.yaml",
        "users:\n  \
         - { id: u-ada, display_name: Ada Lovelace, email: Ada@Example.com }\n  \
         - { id: u-alan, display_name: Alan Turing, email: alan@example.com }\n\
         apps:\n  - { id: zoom, name: Zoom, connector: zoom }\n",
    );
    k.ok(&["directory", "import", "directory.yaml"]);
    k
}

fn sync(k: &Keystep, more: &[&str]) -> (i32, Json) {
    let mut args = vec!["--json", "sync", "zoom"];
    args.extend_from_slice(more);
    let ran = k.run(&args);
    (ran.code, ran.json())
}

/// Rows of `sql`, each a list of text columns joined by ` `.
fn rows(k: &Keystep, sql: &str) -> Vec<String> {
    let db = k.db();
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        let cols: Vec<String> = (0..n)
            .map(|i| {
                r.get::<_, Option<String>>(i)
                    .map(|v| v.unwrap_or("-".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(cols.join(" "))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn event_kinds(k: &Keystep, after: i64) -> Vec<String> {
    rows(
        k,
        &format!("SELECT kind FROM events WHERE seq > {after} ORDER BY seq"),
    )
}

fn last_event(k: &Keystep) -> i64 {
    k.count("SELECT coalesce(max(seq), 0) FROM events")
}

#[test]
fn a_sync_brings_the_app_in_follows_it_and_a_second_changes_nothing() {
    let server = ScimServer::start(TOKEN);
    let (ada, alan, carol) = (
        server.add_user("ada"),
        server.add_user("alan"),
        server.add_user("carol"),
    );
    let (eng, ops) = (server.add_group("eng"), server.add_group("ops"));
    for (group, user) in [(&eng, &ada), (&eng, &alan), (&eng, &carol), (&ops, &ada)] {
        server.set_member(group, user, true);
    }
    let k = keystep_for(&server, &server.url());
    let before = last_event(&k);

    // A dry run shows every change and writes none.
    let (code, dry) = sync(&k, &["--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["summary"]["accounts_created"], 3, "{dry}");
    assert_eq!(dry["summary"]["grants_added"], 3, "{dry}");
    assert_eq!(k.count("SELECT count(*) FROM accounts"), 0);
    assert_eq!(last_event(&k), before, "a dry run records no event");

    let (code, first) = sync(&k, &[]);
    assert_eq!(code, 0, "{first}");
    let s = &first["summary"];
    assert_eq!(
        (
            s["accounts_created"].as_u64(),
            s["entitlements_created"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(s["grants_added"], 3);
    assert_eq!(
        s["skipped"]["unlinked_account"], 1,
        "carol is no directory user: {s}"
    );
    assert_eq!(
        rows(
            &k,
            "SELECT id, user_id, username, status FROM accounts ORDER BY username"
        ),
        [
            format!("{ada} u-ada ada active"),
            format!("{alan} u-alan alan active"),
            format!("{carol} - carol active")
        ],
        "linked by email, whatever its case"
    );
    let mut want = [
        format!("u-ada zoom:group:{eng}:member sync"),
        format!("u-ada zoom:group:{ops}:member sync"),
        format!("u-alan zoom:group:{eng}:member sync"),
    ];
    want.sort();
    assert_eq!(
        rows(
            &k,
            "SELECT user_id, entitlement_id, source FROM grants ORDER BY 1, 2"
        ),
        want
    );
    assert_eq!(
        rows(
            &k,
            &format!(
                "SELECT name, resource_type, resource FROM entitlements WHERE id = 'zoom:group:{eng}:member'"
            )
        ),
        [format!("eng member group {eng}")]
    );
    let mut kinds = event_kinds(&k, before);
    kinds.sort();
    assert_eq!(
        kinds,
        ["account_created"; 3]
            .into_iter()
            .chain(["grant_added"; 3])
            .collect::<Vec<_>>()
    );
    let actors = rows(
        &k,
        &format!("SELECT DISTINCT actor FROM events WHERE seq > {before}"),
    );
    assert_eq!(actors, ["sync:zoom"]);

    // Nothing changed upstream: nothing changes here.
    let synced = last_event(&k);
    let (code, again) = sync(&k, &[]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["changes"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(last_event(&k), synced);

    // Alan leaves eng, Carol's account goes; the next sync follows.
    server.set_member(&eng, &alan, false);
    let (status, _) = server.request("DELETE", &format!("/Users/{carol}"), &Json::Null);
    assert_eq!(status, 204);
    let ran = k.run(&["sync", "zoom"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout
            .contains("1 accounts marked deleted, 1 grants removed"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        rows(
            &k,
            "SELECT user_id, entitlement_id FROM grants WHERE user_id = 'u-alan'"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        rows(
            &k,
            &format!("SELECT status FROM accounts WHERE id = '{carol}'")
        ),
        ["deleted"],
        "an account gone upstream is marked, not deleted"
    );
    assert_eq!(
        event_kinds(&k, synced),
        ["grant_removed", "account_updated"]
    );
}

#[test]
fn a_sync_that_would_take_most_access_away_is_refused_unless_allowed() {
    let server = ScimServer::start(TOKEN);
    let eng = server.add_group("eng");
    let ids: Vec<String> = (0..12)
        .map(|i| server.add_user(&format!("user{i}")))
        .collect();
    for id in &ids {
        server.set_member(&eng, id, true);
    }
    let k = keystep_for(&server, &server.url());
    let users: String = (0..12)
        .map(|i| {
            format!("  - {{ id: u{i}, display_name: User {i}, email: user{i}@example.com }}\n")
        })
        .collect();
    k.write("more.yaml", &format!("users:\n{users}"));
    k.ok(&["directory", "import", "more.yaml"]);
    assert_eq!(sync(&k, &[]).0, 0);
    assert_eq!(k.count("SELECT count(*) FROM grants"), 12);

    for id in &ids {
        server.set_member(&eng, id, false);
    }
    // A dry run shows the changes, and that the sync would be refused.
    let (code, dry) = sync(&k, &["--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(dry["summary"]["grants_removed"], 12, "{dry}");
    assert!(
        dry["refused"].as_str().unwrap().contains("more than half"),
        "{dry}"
    );
    let ran = k.run(&["sync", "zoom"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("would remove 12 of 12 grants"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("--allow-mass-removal"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        k.count("SELECT count(*) FROM grants"),
        12,
        "nothing was removed"
    );
    let (code, allowed) = sync(&k, &["--allow-mass-removal"]);
    assert_eq!(code, 0, "{allowed}");
    assert_eq!(k.count("SELECT count(*) FROM grants"), 0);
}

#[test]
fn a_server_that_goes_away_mid_sync_leaves_the_directory_as_it_was_and_a_rerun_finishes() {
    let server = ScimServer::start(TOKEN);
    let eng = server.add_group("eng");
    for login in ["ada", "alan", "grace", "edsger", "barbara"] {
        let id = server.add_user(login);
        server.set_member(&eng, &id, true);
    }
    let relay = Relay::to(server.port());
    let k = keystep_for(&server, &relay.url());
    let before = (last_event(&k), k.count("SELECT count(*) FROM accounts"));

    // Users come two a page: it goes away while they are listed.
    relay.cut_after(4);
    let ran = k.run(&["sync", "zoom"]);
    assert!(relay.is_cut(), "the relay went away");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("connector `zoom` listing"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("unavailable"), "{}", ran.stderr);
    assert!(!ran.stderr.contains(TOKEN) && !ran.stdout.contains(TOKEN));
    assert_eq!(
        (last_event(&k), k.count("SELECT count(*) FROM accounts")),
        before,
        "nothing of the cut sync was kept"
    );
    let recorded = rows(&k, "SELECT outcome, error FROM syncs");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert!(
        recorded[0].starts_with("failed ") && recorded[0].contains("unavailable"),
        "{recorded:?}"
    );
    assert!(!recorded[0].contains(TOKEN));

    relay.mend();
    let (code, done) = sync(&k, &[]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["summary"]["accounts_created"], 5, "{done}");
    assert_eq!(
        k.count("SELECT count(*) FROM grants"),
        2,
        "Ada and Alan are directory users"
    );
}

/// Waits until `sql` counts at least `n`.
fn until(k: &Keystep, sql: &str, n: i64, log: impl Fn() -> String) {
    let started = Instant::now();
    while k.count(sql) < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{sql} < {n}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_syncs_an_instance_on_its_schedule_and_triggers_react_to_the_changes() {
    let server = ScimServer::start(TOKEN);
    let (ada, alan) = (server.add_user("ada"), server.add_user("alan"));
    let eng = server.add_group("eng");
    server.set_member(&eng, &ada, true);
    let k = keystep_with(&server, &server.url(), "sync_every = \"1s\"\n");
    k.write(
        "automations/granted.yaml",
        "name: granted\ntrigger:\n  grant_added: { app: zoom }\nsteps:\n  \
         - id: note\n    modify_delegate: { user: subject }\n",
    );
    let serving = k.serve();
    serving.wait_for("syncing connector zoom every 1s", Duration::from_secs(10));
    let log = || serving.log().join("\n");
    until(
        &k,
        "SELECT count(*) FROM grants WHERE user_id = 'u-ada'",
        1,
        log,
    );
    until(
        &k,
        "SELECT count(*) FROM runs WHERE automation = 'granted' AND state = 'succeeded'",
        1,
        log,
    );

    // A change upstream reaches the directory at the next sync.
    server.set_member(&eng, &alan, true);
    until(
        &k,
        "SELECT count(*) FROM grants WHERE user_id = 'u-alan'",
        1,
        log,
    );
    until(
        &k,
        "SELECT count(*) FROM runs WHERE automation = 'granted' AND state = 'succeeded'",
        2,
        log,
    );
    let (status, _) = serving.signal("TERM");
    assert!(status.success());
    assert!(
        k.count("SELECT count(*) FROM syncs WHERE connector = 'zoom' AND outcome = 'succeeded'")
            >= 2
    );
    assert_eq!(
        k.count("SELECT count(*) FROM syncs WHERE outcome = 'failed'"),
        0
    );
}

#[test]
fn a_kill_inside_the_sync_transaction_keeps_nothing_and_the_rerun_makes_each_change_once() {
    use std::io::{BufRead, BufReader};
    let server = ScimServer::start(TOKEN);
    let eng = server.add_group("eng");
    for login in ["ada", "alan", "grace"] {
        let id = server.add_user(login);
        server.set_member(&eng, &id, true);
    }
    let k = keystep_for(&server, &server.url());
    let before = last_event(&k);
    // The test hook holds the write job open after its changes, and says so.
    let mut child = k
        .command(&["sync", "zoom"])
        .env("KEYSTEP_TEST_STEP_DELAY_MS", "1000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        let inside = line.contains("keystep-test-hook: in sync:zoom");
        seen.push(line);
        if inside {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains("in sync:zoom")),
        "{seen:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        last_event(&k),
        before,
        "the killed transaction kept no change"
    );
    assert_eq!(k.count("SELECT count(*) FROM accounts"), 0);
    assert_eq!(k.count("SELECT count(*) FROM syncs"), 0);

    let (code, done) = sync(&k, &[]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'account_created'"),
        3
    );
    assert_eq!(
        k.count("SELECT count(*) FROM events WHERE kind = 'grant_added'"),
        2
    );
    assert_eq!(
        k.count("SELECT count(*) FROM syncs WHERE outcome = 'succeeded'"),
        1
    );
}
