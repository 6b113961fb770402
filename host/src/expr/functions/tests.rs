//! The functions through whole expressions, as automations call them. The
//! directory here is a map in memory; the store's own [`Lookup`] is tested
//! with the store, and end to end in `tests/tests/cel_functions.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::FUNCTIONS;
use crate::expr::{Expr, Lookup, Scope};

/// Users by id, and grants as (user, entitlement, app).
#[derive(Default)]
struct Memory {
    users: BTreeMap<String, Json>,
    grants: Vec<(String, String, String)>,
    accounts: Vec<(String, String)>,
}

impl Lookup for Memory {
    fn user(&self, id: &str) -> Result<Option<Json>, String> {
        Ok(self.users.get(id).cloned())
    }
    fn user_by_email(&self, email: &str) -> Result<Option<Json>, String> {
        let email = email.to_lowercase();
        Ok(self
            .users
            .values()
            .find(|u| u["email"].as_str().map(str::to_lowercase) == Some(email.clone()))
            .cloned())
    }
    fn reports(&self, manager: &str) -> Result<Vec<Json>, String> {
        Ok(self
            .users
            .values()
            .filter(|u| u["manager_id"] == manager)
            .cloned()
            .collect())
    }
    fn grants(&self, user: &str) -> Result<Vec<Json>, String> {
        Ok(self
            .grants
            .iter()
            .filter(|(u, ..)| u == user)
            .map(|(u, e, a)| json!({"user_id": u, "entitlement_id": e, "app_id": a}))
            .collect())
    }
    fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool, String> {
        Ok(self
            .grants
            .iter()
            .any(|(u, e, _)| u == user && e == entitlement))
    }
    fn live_accounts(&self, user: &str) -> Result<Vec<Json>, String> {
        Ok(self
            .accounts
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(u, a)| json!({"user_id": u, "app_id": a}))
            .collect())
    }
    fn holders(&self, entitlement: &str) -> Result<Vec<Json>, String> {
        let holders = self.grants.iter().filter(|(_, e, _)| e == entitlement);
        Ok(holders.map(|(u, ..)| self.users[u].clone()).collect())
    }
}

fn user(id: &str, manager: Option<&str>) -> (String, Json) {
    let email = format!("{id}@example.com");
    (
        id.into(),
        json!({"id": id, "email": email, "manager_id": manager}),
    )
}

/// grace manages ada and alan; ada manages carol; carol manages dan.
/// kim has no manager; x and y manage each other.
fn org() -> Arc<dyn Lookup> {
    let users = [
        user("grace", None),
        user("ada", Some("grace")),
        user("alan", Some("grace")),
        user("carol", Some("ada")),
        user("dan", Some("carol")),
        user("kim", None),
        user("x", Some("y")),
        user("y", Some("x")),
    ];
    Arc::new(Memory {
        users: users.into_iter().collect(),
        grants: vec![
            ("ada".into(), "aws:admin".into(), "aws".into()),
            ("alan".into(), "aws:admin".into(), "aws".into()),
            ("alan".into(), "github:org".into(), "github".into()),
        ],
        accounts: vec![("kim".into(), "zoom".into())],
    })
}

fn eval(source: &str) -> Result<Json, String> {
    let ctx = json!({"trigger": {"user": {"id": "ada", "email": "ADA@example.com"}}});
    let scope = Scope::new(&ctx).reading(org());
    Expr::compile(source)
        .map_err(|e| format!("column {}: {}", e.column, e.message))?
        .eval(&scope)
}

fn ids(source: &str) -> Json {
    eval(&format!("{source}.map(u, u.id)")).unwrap()
}

#[test]
fn directory_functions_read_users_and_their_managers() {
    assert_eq!(eval("directory.user('ada').manager_id"), Ok(json!("grace")));
    assert_eq!(eval("directory.user('nobody')"), Ok(Json::Null));
    assert_eq!(
        eval("directory.find_by_email(ctx.trigger.user.email).id"),
        Ok(json!("ada"))
    );
    assert_eq!(
        eval("directory.manager(ctx.trigger.user).id"),
        Ok(json!("grace"))
    );
    assert_eq!(
        eval("directory.manager('kim')"),
        Ok(Json::Null),
        "no manager"
    );
    assert_eq!(
        ids("directory.managers('dan')"),
        json!(["carol", "ada", "grace"])
    );
    assert_eq!(ids("directory.managers('kim')"), json!([]));
}

#[test]
fn a_manager_cycle_ends_the_walk() {
    assert_eq!(ids("directory.managers('x')"), json!(["y"]));
    assert_eq!(ids("directory.reports('x', 100)"), json!(["y"]));
    assert_eq!(ids("directory.reports('x')"), json!(["y"]));
}

#[test]
fn reports_go_down_as_deep_as_asked() {
    assert_eq!(ids("directory.reports('grace')"), json!(["ada", "alan"]));
    assert_eq!(
        ids("directory.reports('grace', 2)"),
        json!(["ada", "alan", "carol"])
    );
    assert_eq!(
        ids("directory.reports('grace', 10)"),
        json!(["ada", "alan", "carol", "dan"])
    );
    assert_eq!(eval("size(directory.reports('kim')) == 0"), Ok(json!(true)));
    let err = eval("directory.reports('grace', 0)").unwrap_err();
    assert!(err.contains("the depth must be 1 or more"), "{err}");
}

#[test]
fn directory_functions_read_access() {
    assert_eq!(
        eval("directory.grants('alan').map(g, g.entitlement_id)"),
        Ok(json!(["aws:admin", "github:org"]))
    );
    assert_eq!(
        eval("directory.has_entitlement('ada', 'aws:admin')"),
        Ok(json!(true))
    );
    assert_eq!(
        eval("directory.has_entitlement('ada', 'github:org')"),
        Ok(json!(false))
    );
    assert_eq!(eval("directory.has_app('alan', 'github')"), Ok(json!(true)));
    assert_eq!(
        eval("directory.has_app('kim', 'zoom')"),
        Ok(json!(true)),
        "an account"
    );
    assert_eq!(eval("directory.has_app('ada', 'zoom')"), Ok(json!(false)));
    assert_eq!(
        ids("directory.entitlement_members('aws:admin')"),
        json!(["ada", "alan"])
    );
    let err = eval("directory.user(1)").unwrap_err();
    assert!(err.contains("the user must be a string"), "{err}");
}

#[test]
fn without_a_directory_the_functions_say_so() {
    let e = Expr::compile("directory.user('ada')").unwrap();
    let err = e.eval(&Scope::new(&json!({}))).unwrap_err();
    assert!(err.contains("the directory is not available here"), "{err}");
}

#[test]
fn time_functions_work_in_a_zone() {
    let t = "timestamp('2026-03-04T23:30:00Z')";
    for (source, want) in [
        (
            format!("string(time.start_of({t}, 'day'))"),
            "2026-03-04T00:00:00Z",
        ),
        (
            format!("string(time.start_of({t}, 'day', 'Europe/Berlin'))"),
            "2026-03-04T23:00:00Z",
        ),
        (
            format!("string(time.start_of({t}, 'week'))"),
            "2026-03-02T00:00:00Z",
        ),
        (
            format!("string(time.start_of({t}, 'month'))"),
            "2026-03-01T00:00:00Z",
        ),
        (
            format!("string(time.start_of({t}, 'year'))"),
            "2026-01-01T00:00:00Z",
        ),
        (
            format!("string(time.start_of({t}, 'hour'))"),
            "2026-03-04T23:00:00Z",
        ),
        (
            format!("time.format({t}, '%Y-%m-%d %H:%M', 'America/New_York')"),
            "2026-03-04 18:30",
        ),
        (
            "string(time.parse('2026-07-01 09:00', '%Y-%m-%d %H:%M', 'Europe/Berlin'))".into(),
            "2026-07-01T07:00:00Z",
        ),
        (
            "string(time.parse('2026-07-01', '%Y-%m-%d'))".into(),
            "2026-07-01T00:00:00Z",
        ),
        (
            "string(time.parse('2026-07-01 09:00 +0530', '%Y-%m-%d %H:%M %z'))".into(),
            "2026-07-01T03:30:00Z",
        ),
        (
            format!("string({t} + time.days(7))"),
            "2026-03-11T23:30:00Z",
        ),
    ] {
        assert_eq!(eval(&source), Ok(json!(want)), "{source}");
    }
    assert_eq!(
        eval("now() - time.start_of(now(), 'day') < duration('24h')"),
        Ok(json!(true))
    );
}

#[test]
fn time_functions_refuse_what_they_cannot_read() {
    for (source, want) in [
        (
            "time.start_of(now(), 'fortnight')",
            "unknown unit `fortnight`",
        ),
        (
            "time.start_of(now(), 'day', 'Mars/Base')",
            "unknown time zone `Mars/Base`",
        ),
        ("time.format(now(), '%Q')", "is not a strftime layout"),
        (
            "time.parse('tomorrow', '%Y-%m-%d')",
            "does not fit the layout",
        ),
        ("time.start_of('2026-01-01', 'day')", "must be a timestamp"),
    ] {
        let err = eval(source).unwrap_err();
        assert!(err.contains(want), "{source}: {err}");
    }
}

#[test]
fn string_and_list_functions() {
    for (source, want) in [
        (
            "' Ada.Lovelace@Example.COM '.trim().lower()",
            json!("ada.lovelace@example.com"),
        ),
        ("'ada'.upper()", json!("ADA")),
        ("'a,b,,c'.split(',')", json!(["a", "b", "", "c"])),
        ("'héllo'.split('')", json!(["h", "é", "l", "l", "o"])),
        ("'ada@example.com'.split('@')[1]", json!("example.com")),
        ("'a-b-c'.replace('-', '_')", json!("a_b_c")),
        ("['a', 'b'].join(', ')", json!("a, b")),
        ("['a', 'b'].join()", json!("ab")),
        ("[3, 1, 3, 2, 1].distinct()", json!([3, 1, 2])),
        ("[[1, 2], [3], 4].flatten()", json!([1, 2, 3, 4])),
        ("['b', 'c', 'a'].sort()", json!(["a", "b", "c"])),
        ("[2.5, 1, 3u].sort()", json!([1, 2.5, 3])),
    ] {
        assert_eq!(eval(source), Ok(want), "{source}");
    }
    for (source, want) in [
        ("'abc'.replace('', 'x')", "must not be empty"),
        ("[1, 'a'].sort()", "one kind"),
        ("['a', 1].join()", "item 1 of the list must be a string"),
    ] {
        let err = eval(source).unwrap_err();
        assert!(err.contains(want), "{source}: {err}");
    }
}

#[test]
fn what_a_function_would_build_is_charged_before_it_is_built() {
    let big = "a".repeat(100_000);
    let scope = Scope::new(&json!({ "s": big }));
    for source in [
        "ctx.s.replace('a', ctx.s)",
        "ctx.s.split('').map(x, ctx.s.split('')).size()",
        "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(x, ctx.s.replace('a', 'aaaaaaaaaa')).join()",
    ] {
        let err = Expr::compile(source)
            .unwrap()
            .eval(&scope)
            .map(|_| ())
            .unwrap_err();
        assert!(err.contains("budget of 1000000 units"), "{source}: {err}");
    }
}

#[test]
fn unknown_functions_and_wrong_arities_are_refused_when_compiled() {
    for (source, want) in [
        (
            "directory.usr('ada')",
            "unknown function `directory.usr` (did you mean `directory.user`?)",
        ),
        (
            "directory.reports('a', 1, 2)",
            "`directory.reports` takes 1 or 2 arguments (directory.reports(user, depth?)), not 3",
        ),
        (
            "time.start_of(now())",
            "`time.start_of` takes 2 or 3 arguments",
        ),
        (
            "ctx.name.lowr()",
            "unknown function `lowr` (did you mean `lower`?)",
        ),
        ("lower('A')", "`lower` is called on a value: s.lower()"),
        ("ctx.x.size(1)", "`size` takes 0 argument"),
        ("frobnicate(1)", "unknown function `frobnicate`"),
    ] {
        let err = Expr::compile(source).unwrap_err();
        assert!(err.message.contains(want), "{source}: {}", err.message);
    }
    for (source, column) in [
        ("1 + directory.usr('ada')", 5),
        ("1 + frobnicate(2)", 5),
        ("ctx.a.lowr()", 7),
    ] {
        assert_eq!(
            Expr::compile(source).unwrap_err().column,
            column,
            "{source}"
        );
    }
}

#[test]
fn the_standard_library_still_compiles_and_runs() {
    for source in [
        "size('abc') == 3 && 'abc'.size() == 3 && size([1]) == 1",
        "bool('true') && int('2') == 2 && uint(2) == 2u && double(1) == 1.0",
        "string(1) == '1' && bytes('a') == b'a' && type(1) == int && dyn(1) == 1",
        "'abc'.contains('b') && 'abc'.startsWith('a') && 'abc'.endsWith('c')",
        "'abc'.matches('^a') && matches('abc', 'c$')",
        "timestamp('2026-01-02T03:04:05Z').getFullYear() == 2026",
        "timestamp('2026-01-02T03:04:05Z').getHours('Europe/Berlin') == 4",
        "duration('90m').getMinutes() == 90",
        "optional.of(1).hasValue() && optional.none().orValue(2) == 2",
        "optional.ofNonZeroValue(1).value() == 1 && optional.none().or(optional.of(3)).value() == 3",
        "[1, 2].all(x, x > 0) && [1].exists(x, x == 1) && has({'a': 1}.a)",
    ] {
        assert_eq!(eval(source), Ok(json!(true)), "{source}");
    }
}

#[test]
fn the_readme_documents_every_keystep_function() {
    let readme = include_str!("../../../../README.md");
    let section = readme
        .split("## Functions in expressions")
        .nth(1)
        .expect("the README has a section \"Functions in expressions\"");
    let section = section.split("\n## ").next().unwrap_or(section);
    for f in FUNCTIONS.iter().filter(|f| f.overload.is_some()) {
        assert!(
            section.contains(&format!("`{}`", f.usage)),
            "the README's \"Functions in expressions\" lacks `{}`",
            f.usage
        );
    }
}
