//! `keystep directory import`: merge and snapshot modes, dry runs, and the
//! files it refuses, checked on the rows and events it leaves behind.

use keystep_tests::Keystep;
use serde_json::Value as Json;

fn events(k: &Keystep) -> i64 {
    k.count("SELECT count(*) FROM events")
}

fn status(k: &Keystep, user: &str) -> String {
    k.db()
        .query_row("SELECT status FROM users WHERE id = ?1", [user], |r| {
            r.get(0)
        })
        .unwrap()
}

/// The example directory without John Backus (his grant and the delegation
/// to him go too) and with Barbara no longer enrolled in the engineering
/// baseline.
fn without_john() -> String {
    let text =
        std::fs::read_to_string(keystep_tests::repo().join("examples/directory.yaml")).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("u-john")).collect();
    kept.join("\n").replace(
        "enrolled: [u-ada, u-linus, u-barbara]",
        "enrolled: [u-ada, u-linus]",
    )
}

#[test]
fn a_merge_keeps_what_the_file_leaves_out() {
    let k = Keystep::with_examples();
    let before = events(&k);
    k.write(
        "title.yaml",
        "users:\n  - { id: u-ada, title: Principal Engineer }\n",
    );
    let out = k.json(&["directory", "import", "title.yaml"]);
    assert_eq!(out["summary"]["users"]["updated"], 1, "{out}");
    let ada = k.json(&["directory", "show", "u-ada"]);
    assert_eq!(ada["user"]["title"], "Principal Engineer");
    assert_eq!(ada["user"]["display_name"], "Ada Lovelace");
    assert_eq!(ada["user"]["email"], "ada@example.com");
    assert_eq!(ada["user"]["department"], "Engineering");
    assert_eq!(ada["user"]["manager_id"], "u-ken");
    assert_eq!(ada["grants"].as_array().unwrap().len(), 8);
    assert_eq!(k.count("SELECT count(*) FROM users"), 13);
    assert_eq!(events(&k), before + 1, "one user_updated, nothing else");
    // `null` clears a field.
    k.write(
        "clear.yaml",
        "users:\n  - { id: u-ada, department: null }\n",
    );
    k.ok(&["directory", "import", "clear.yaml"]);
    let ada = k.json(&["directory", "show", "u-ada"]);
    assert_eq!(ada["user"]["department"], Json::Null);
    assert_eq!(ada["user"]["title"], "Principal Engineer");
}

#[test]
fn a_snapshot_marks_leavers_deleted_and_removes_what_it_leaves_out() {
    let k = Keystep::with_examples();
    k.write("snapshot.yaml", &without_john());
    // A merge of the same file removes nothing.
    let merged = k.json(&["directory", "import", "snapshot.yaml"]);
    assert_eq!(merged["changes"], serde_json::json!([]), "{merged}");
    assert_eq!(status(&k, "u-john"), "active");

    let out = k.json(&["directory", "import", "snapshot.yaml", "--snapshot"]);
    let summary = &out["summary"];
    assert_eq!(summary["users"]["deleted"], 1, "{out}");
    assert_eq!(summary["grants"]["removed"], 1, "{out}");
    assert_eq!(summary["enrollments"]["removed"], 1, "{out}");
    assert_eq!(summary["delegations"]["removed"], 1, "{out}");
    assert_eq!(out["changes"].as_array().unwrap().len(), 4, "{out}");

    assert_eq!(status(&k, "u-john"), "deleted");
    assert_eq!(
        k.count("SELECT count(*) FROM grants WHERE user_id = 'u-john'"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM delegates WHERE user_id = 'u-frances'"),
        0
    );
    assert_eq!(
        k.count("SELECT count(*) FROM enrollments WHERE user_id = 'u-barbara'"),
        0
    );
    let john = k.json(&["directory", "show", "u-john", "--events"]);
    let kinds: Vec<&str> = john["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["seq"].as_i64() > Some(0) && e["actor"] == "import")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["user_updated", "grant_removed"]),
        "{kinds:?}"
    );
    let updated = john["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["kind"] == "user_updated")
        .unwrap();
    assert_eq!(updated["payload"]["old_user"]["status"], "active");
    assert_eq!(updated["payload"]["new_user"]["status"], "deleted");
    for (subject, kind, payload) in [
        ("u-frances", "delegate_changed", "$.new_delegate IS NULL"),
        (
            "u-barbara",
            "user_unenrolled",
            "$.profile_id = 'engineering-baseline'",
        ),
    ] {
        let (path, test) = payload.split_once(' ').unwrap();
        let n = k.count(&format!(
            "SELECT count(*) FROM events WHERE subject_id = '{subject}' AND kind = '{kind}' \
             AND json_extract(payload, '{path}') {test}"
        ));
        assert_eq!(n, 1, "{subject} {kind}");
    }

    // The same snapshot again changes nothing and writes no event.
    let before = events(&k);
    let again = k.json(&["directory", "import", "snapshot.yaml", "--snapshot"]);
    assert_eq!(again["changes"], serde_json::json!([]), "{again}");
    assert_eq!(events(&k), before);

    // Listed again, John is back.
    k.ok(&["directory", "import", "directory.yaml", "--snapshot"]);
    assert_eq!(status(&k, "u-john"), "active");
}

/// The store's files, byte for byte.
fn store_bytes(k: &Keystep) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(k.path().join(".keystep"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("keystep.db"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn a_dry_run_shows_the_changes_and_writes_nothing() {
    let k = Keystep::with_examples();
    k.write("snapshot.yaml", &without_john());
    let before = store_bytes(&k);
    let ran = k.run(&[
        "directory",
        "import",
        "snapshot.yaml",
        "--snapshot",
        "--dry-run",
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for line in [
        "user u-john deleted",
        "grant u-john okta:user removed",
        "enrollment engineering-baseline u-barbara removed",
        "delegation u-frances removed",
    ] {
        assert!(ran.stdout.contains(line), "{line}: {}", ran.stdout);
    }
    assert!(ran.stdout.contains("nothing written"), "{}", ran.stdout);
    assert!(store_bytes(&k) == before, "the store's files changed");
    assert_eq!(status(&k, "u-john"), "active");
    let json = k.json(&[
        "directory",
        "import",
        "snapshot.yaml",
        "--snapshot",
        "--dry-run",
    ]);
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["summary"]["users"]["deleted"], 1);
    assert!(store_bytes(&k) == before, "the store's files changed");
}

#[test]
fn a_snapshot_that_would_delete_most_users_is_refused() {
    let k = Keystep::with_examples();
    let before = events(&k);
    k.write(
        "few.yaml",
        "users:\n  - { id: u-grace, display_name: Grace Hopper }\n  - { id: u-ada, display_name: Ada Lovelace }\n",
    );
    let ran = k.run(&["directory", "import", "few.yaml", "--snapshot"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("11 of the 13 users deleted")
            && ran.stderr.contains("--allow-mass-delete"),
        "{}",
        ran.stderr
    );
    assert_eq!(events(&k), before);
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE status = 'deleted'"),
        0
    );
    k.ok(&[
        "directory",
        "import",
        "few.yaml",
        "--snapshot",
        "--allow-mass-delete",
    ]);
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE status = 'deleted'"),
        11
    );
}

/// Imports `contents` as `name` and expects it refused at `place` (line:col)
/// with `message`, leaving the directory as it was.
fn refused(k: &Keystep, name: &str, contents: &str, place: &str, message: &str) {
    let before = (events(k), k.count("SELECT count(*) FROM users"));
    k.write(name, contents);
    let ran = k.run(&["directory", "import", name]);
    assert_eq!(ran.code, 2, "{name} was accepted: {ran:?}");
    let want = format!("{name}:{place}: ");
    assert!(
        ran.stderr.contains(&want) && ran.stderr.contains(message),
        "{name}: expected `{want}` and `{message}` in:\n{}",
        ran.stderr
    );
    assert_eq!(
        (events(k), k.count("SELECT count(*) FROM users")),
        before,
        "{name} changed the directory"
    );
}

#[test]
fn entitlement_ids_cannot_collide_and_only_the_app_id_is_without_colon() {
    let k = Keystep::with_examples();
    refused(
        &k,
        "app-colon.yaml",
        "apps:\n  - id: a:b\n    name: A B\n    entitlements: [{ slug: c, name: C }]\n",
        "2:9",
        "app id `a:b` contains `:`",
    );
    // A slug may hold `:` (SCIM's `group:<id>:member`): the app id cannot,
    // so the id's first `:` still separates the two.
    k.write(
        "slug-colon.yaml",
        "apps:\n  - id: a\n    name: A\n    entitlements: [{ slug: \"b:c\", name: C }]\n",
    );
    k.ok(&["directory", "import", "slug-colon.yaml"]);
    assert_eq!(
        k.count(
            "SELECT count(*) FROM entitlements WHERE id = 'a:b:c' AND app_id = 'a' AND slug = 'b:c'"
        ),
        1
    );
}

const USER: &str = "users:\n  - { id: u-x, display_name: X }\n";

#[test]
fn ids_given_twice_are_refused() {
    let k = Keystep::with_examples();
    refused(
        &k,
        "dup-user.yaml",
        &format!("{USER}  - {{ id: u-x, display_name: Y }}\n"),
        "3:11",
        "duplicate user id `u-x` (first given at line 2)",
    );
    refused(
        &k,
        "dup-app.yaml",
        "apps:\n  - { id: x, name: X }\n  - { id: x, name: Y }\n",
        "3:11",
        "duplicate app id `x`",
    );
    refused(
        &k,
        "dup-slug.yaml",
        "apps:\n  - id: x\n    name: X\n    entitlements:\n      - { slug: e, name: E }\n      - { slug: e, name: F }\n",
        "6:17",
        "duplicate entitlement `x:e`",
    );
    refused(
        &k,
        "dup-delegate.yaml",
        "delegates:\n  - { user: u-ada, delegate: u-ken }\n  - { user: u-ada, delegate: u-john }\n",
        "3:13",
        "duplicate delegation for user `u-ada`",
    );
    refused(
        &k,
        "dup-key.json",
        "{\"users\": [{\"id\": \"u-x\", \"id\": \"u-y\", \"display_name\": \"X\"}]}",
        "1:26",
        "duplicate key `id`",
    );
}

#[test]
fn self_references_and_cycles_are_refused() {
    let k = Keystep::with_examples();
    refused(
        &k,
        "self-manager.yaml",
        "users:\n  - { id: u-x, display_name: X, manager: u-x }\n",
        "2:42",
        "cannot be their own manager",
    );
    refused(
        &k,
        "manager-cycle.yaml",
        "users:\n  - { id: u-x, display_name: X, manager: u-y }\n  - { id: u-y, display_name: Y, manager: u-x }\n",
        "2:42",
        "manager cycle: u-x → u-y → u-x",
    );
    // A cycle through a user already in the directory: Ken manages Ada.
    refused(
        &k,
        "manager-cycle-db.yaml",
        "users:\n  - { id: u-ken, manager: u-ada }\n",
        "2:27",
        "manager cycle: u-ken → u-ada → u-ken",
    );
    refused(
        &k,
        "self-delegate.yaml",
        "delegates:\n  - { user: u-ada, delegate: u-ada }\n",
        "2:30",
        "cannot delegate to themselves",
    );
    // Ken already delegates to Ada.
    refused(
        &k,
        "delegate-cycle.yaml",
        "delegates:\n  - { user: u-ada, delegate: u-ken }\n",
        "2:30",
        "delegation cycle: u-ada → u-ken → u-ada",
    );
}

#[test]
fn values_that_would_be_changed_or_dropped_are_refused() {
    let k = Keystep::with_examples();
    refused(
        &k,
        "account-field.yaml",
        "accounts:\n  - { id: a-x, app: aws, user: u-ada, colour: blue }\n",
        "2:39",
        "unknown field `colour` in an account",
    );
    refused(
        &k,
        "tag.yaml",
        "users:\n  - { id: u-x, display_name: !secret X }\n",
        "2:38",
        "YAML tags",
    );
    refused(
        &k,
        "anchor.yaml",
        "users:\n  - &me { id: u-x, display_name: X }\n",
        "2:9",
        "YAML anchors",
    );
    refused(
        &k,
        "nan.yaml",
        "users:\n  - { id: u-x, display_name: X, attributes: { score: .nan } }\n",
        "2:54",
        "`.nan` is not a number JSON can hold",
    );
    refused(
        &k,
        "inf.yaml",
        "users:\n  - { id: u-x, display_name: X, attributes: { score: -.inf } }\n",
        "2:54",
        "`-.inf`",
    );
    refused(
        &k,
        "big.yaml",
        "users:\n  - { id: u-x, display_name: X, attributes: { score: 1e999 } }\n",
        "2:54",
        "number `1e999` is out of range",
    );
    refused(
        &k,
        "big.json",
        "{\"users\": [{\"id\": \"u-x\", \"display_name\": \"X\", \"attributes\": {\"n\": 1e999}}]}",
        "1:67",
        "number `1e999` is out of range",
    );
    refused(
        &k,
        "nul-escape.yaml",
        "users:\n  - { id: \"u-\\0x\", display_name: X }\n",
        "2:11",
        "NUL characters",
    );
    refused(
        &k,
        "nul-escape.json",
        "{\"users\": [{\"id\": \"u-\\u0000\", \"display_name\": \"X\"}]}",
        "1:19",
        "NUL characters",
    );
    refused(
        &k,
        "nul-raw.yaml",
        "users:\n  - { id: u-x, display_name: X\0 }\n",
        "2:31",
        "NUL characters",
    );
    refused(
        &k,
        "blank.yaml",
        "users:\n  - { id: \"  \", display_name: X }\n",
        "2:11",
        "a user id cannot be blank",
    );
    refused(
        &k,
        "subject.yaml",
        "users:\n  - { id: subject, display_name: X }\n",
        "2:11",
        "`subject` is a keyword",
    );
    refused(
        &k,
        "all.yaml",
        "access_profiles:\n  - { id: all, name: Everything }\n",
        "2:11",
        "`all` is a keyword",
    );
    refused(
        &k,
        "number-id.yaml",
        "users:\n  - { id: 42, display_name: X }\n",
        "2:11",
        "must be a string",
    );
    refused(
        &k,
        "two-docs.yaml",
        &format!("{USER}---\n{USER}"),
        "3:1",
        "one YAML document",
    );
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let k = Keystep::with_examples();
    let deep = "[".repeat(100_000);
    // The YAML scanner stops at 255 open brackets; the tree at 64 levels.
    refused(
        &k,
        "deep.yaml",
        &format!("users: {deep}"),
        "1:263",
        "nested deeper than 64 levels",
    );
    let balanced = format!("users: {}{}", "[".repeat(200), "]".repeat(200));
    refused(
        &k,
        "balanced.yaml",
        &balanced,
        "1:71",
        "nested deeper than 64 levels",
    );
    refused(
        &k,
        "deep.json",
        &format!("{{\"users\": {deep}"),
        "1:74",
        "nested deeper than 64 levels",
    );
    // Block nesting: `- - - …` on one line.
    let block = "- ".repeat(5_000);
    refused(
        &k,
        "block.yaml",
        &format!("users:\n  {block}x\n"),
        "2:129",
        "nested deeper than 64 levels",
    );
    // Brackets inside quoted strings and comments are not nesting.
    let quoted =
        format!("users:\n  - {{ id: u-q, display_name: \"{deep}\", title: '{deep}' }} # {deep}\n");
    k.write("quoted.yaml", &quoted);
    k.ok(&["directory", "import", "quoted.yaml"]);
    assert_eq!(k.count("SELECT count(*) FROM users WHERE id = 'u-q'"), 1);
}

#[test]
fn json_keeps_escapes_and_a_bom_is_accepted() {
    let k = Keystep::with_examples();
    k.write(
        "emoji.json",
        "\u{feff}{\"users\": [{\"id\": \"u-e\", \"display_name\": \"\\ud83d\\ude00 \\\"E\\\"\"}]}",
    );
    k.ok(&["directory", "import", "emoji.json"]);
    let e = k.json(&["directory", "show", "u-e"]);
    assert_eq!(e["user"]["display_name"], "😀 \"E\"");
}
