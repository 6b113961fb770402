//! One bad run fails by itself: a run whose step errors, whose data asks for
//! the impossible, or whose expression would run away fails with a clear
//! message, recorded, and every other run on the store carries on. What a
//! file can say is bounded when it is validated: durations, expression
//! length and nesting, YAML nesting and framing, each refused with
//! file:line:col before any parser recurses.

use std::time::Duration;

use keystep_tests::{Keystep, Ran, errors_of, expect_errors};
use serde_json::Value as Json;

/// A generous cap on every command here: a hang fails the test instead of
/// stalling it.
const CAP: Duration = Duration::from_secs(60);

/// Runs `keystep ARGS` within [`CAP`] and asserts that it ended by itself
/// with exit code `code` (a death by a signal has none).
#[track_caller]
fn within(k: &Keystep, args: &[&str], code: i32) -> Ran {
    let ran = k
        .run_within(args, CAP)
        .unwrap_or_else(|| panic!("keystep {args:?} still ran after {CAP:?}"));
    assert_eq!(ran.code, code, "keystep {args:?}: {ran:#?}");
    ran
}

/// Starts a run of `name` with `input` without moving it; returns its id.
fn start(k: &Keystep, name: &str, input: &str) -> i64 {
    let ran = within(k, &["--json", "run", name, "--detach", "--input", input], 0);
    ran.json()["run_id"].as_i64().unwrap()
}

/// A run's state and error.
fn outcome(k: &Keystep, id: i64) -> (String, String) {
    let run = &k.show(id)["run"];
    let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
    (text(&run["state"]), text(&run["error"]))
}

/// Asserts the runs `ok` succeeded and each of `bad` failed with an error
/// containing its text.
#[track_caller]
fn expect_outcomes(k: &Keystep, ok: &[i64], bad: &[(i64, &str)]) {
    for id in ok {
        assert_eq!(
            outcome(k, *id),
            ("succeeded".into(), String::new()),
            "run {id}"
        );
    }
    for (id, part) in bad {
        let (state, error) = outcome(k, *id);
        assert_eq!(state, "failed", "run {id}: {error}");
        assert!(error.contains(part), "run {id}: {error}");
    }
}

/// `keystep --json validate FILE`, expected to refuse it: the errors as
/// `LINE:COLUMN: message`.
#[track_caller]
fn refused(k: &Keystep, file: &str) -> Vec<String> {
    errors_of(&within(k, &["--json", "validate", file], 2).json(), file)
}

#[test]
fn durations_and_timestamps_past_ten_years_are_refused_when_validated() {
    let k = Keystep::new();
    k.write(
        "long.yaml",
        "name: long\ntrigger: manual\nsteps:\n  - id: a\n    wait: { duration: 500000y }\n    timeout: 300000y\n  - id: b\n    wait: { until: \"9999-12-31T00:00:00Z\" }\n    retry: { attempts: 2, backoff: 20y, max_delay: 11y }\n  - id: c\n    wait: { duration: 10y }\n    timeout: 3650d\n",
    );
    expect_errors(
        &refused(&k, "long.yaml"),
        &[
            "6:14: `timeout`: `300000y` is longer than the limit of 10 years",
            "5:23: wait.duration: `500000y` is longer than the limit of 10 years",
            "9:36: `retry.backoff`: `20y` is longer than the limit of 10 years",
            "9:52: `retry.max_delay`: `11y` is longer than the limit of 10 years",
            "8:20: wait: `until`: `9999-12-31T00:00:00Z` is more than 10 years ahead",
        ],
    );
}

#[test]
fn a_wait_past_the_limit_from_data_fails_its_run_and_the_others_go_on() {
    let k = Keystep::new();
    k.write(
        "automations/nap.yaml",
        "name: nap\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: \"{{ ctx.trigger.nap }}\" }\n  - id: after\n    wait: { duration: 0s }\n",
    );
    k.write(
        "automations/until.yaml",
        "name: until\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { until: \"{{ ctx.trigger.at }}\" }\n",
    );
    let first = start(&k, "nap", r#"{"nap": "0s"}"#);
    let too_long = start(&k, "nap", r#"{"nap": "500000y"}"#);
    let too_late = start(&k, "until", r#"{"at": "9999-12-31T23:59:59-23:00"}"#);
    let past = start(&k, "until", r#"{"at": "2020-01-01T00:00:00Z"}"#);
    let last = start(&k, "nap", r#"{"nap": "0s"}"#);
    within(&k, &["runs", "resume"], 0);
    expect_outcomes(
        &k,
        &[first, past, last],
        &[
            (too_long, "`500000y` is longer than the limit of 10 years"),
            (too_late, "is more than 10 years ahead"),
        ],
    );
    // Nothing is left to stop the next command on this store.
    within(&k, &["runs", "resume"], 0);
    let again = start(&k, "nap", r#"{"nap": "0s"}"#);
    within(&k, &["runs", "resume"], 0);
    expect_outcomes(&k, &[again], &[]);
}

#[test]
fn a_run_whose_pinned_version_no_longer_parses_fails_alone() {
    let k = Keystep::new();
    let two_steps = |name: &str| {
        format!(
            "name: {name}\ntrigger: manual\nsteps:\n  - id: a\n    wait: {{ duration: 0s }}\n  - id: b\n    wait: {{ duration: 0s }}\n"
        )
    };
    k.write("automations/broken.yaml", &two_steps("broken"));
    k.write("automations/fine.yaml", &two_steps("fine"));
    let broken = start(&k, "broken", "{}");
    let fine = start(&k, "fine", "{}");
    // The stored text a run is pinned to is damaged (a bad migration, a
    // hand edit): that run cannot go on, the others can.
    let db = rusqlite::Connection::open(k.path().join(".keystep/keystep.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE automation_versions SET source = 'name: [' WHERE name = 'broken'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    within(&k, &["runs", "resume"], 0);
    expect_outcomes(&k, &[fine], &[(broken, "no longer parses")]);
}

/// Ten nested `map`s over the trigger's list `l`: 10^10 iterations when
/// `l` has ten items, one when it has one.
fn nested_maps() -> String {
    let mut e = "1".to_string();
    for v in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        e = format!("ctx.trigger.l.map({v}, {e})");
    }
    format!("{e} != []")
}

#[test]
fn a_runaway_expression_fails_its_run_in_bounded_time_and_the_others_go_on() {
    let k = Keystep::new();
    let all = (0..8).fold("true".to_string(), |e, i| {
        format!("ctx.trigger.l.all(x{i}, {e})")
    });
    k.write(
        "automations/heavy.yaml",
        &format!(
            "name: heavy\ntrigger: manual\nsteps:\n  - id: maps\n    if: '{}'\n    wait: {{ duration: 0s }}\n  - id: alls\n    if: '{all}'\n    wait: {{ duration: 0s }}\n",
            nested_maps()
        ),
    );
    within(&k, &["validate", "automations/heavy.yaml"], 0);
    let small = r#"{"l": [1]}"#;
    let ten = r#"{"l": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}"#;
    let before = start(&k, "heavy", small);
    let runaway = start(&k, "heavy", ten);
    let after = start(&k, "heavy", small);
    within(&k, &["runs", "resume"], 0);
    expect_outcomes(
        &k,
        &[before, after],
        &[(
            runaway,
            "the expression needs more than its budget of 1000000 units of work",
        )],
    );
    // In the foreground too: the run fails, the command ends.
    let ran = within(&k, &["run", "heavy", "--input", ten], 1);
    assert!(ran.stdout.contains("budget of 1000000 units"), "{ran:#?}");
    // The `all`s alone: each iteration is charged as well.
    k.write(
        "automations/alls.yaml",
        &format!("name: alls\ntrigger: manual\nsteps:\n  - id: alls\n    if: '{all}'\n    wait: {{ duration: 0s }}\n"),
    );
    let alls = start(&k, "alls", ten);
    within(&k, &["runs", "resume"], 0);
    let (state, error) = outcome(&k, alls);
    assert_eq!(state, "failed");
    assert!(
        error.contains("budget of 1000000 units") || error.contains("limit of 5 s"),
        "{error}"
    );
}

#[test]
fn expressions_too_long_or_too_deep_are_refused_before_they_are_parsed() {
    let k = Keystep::new();
    let auto = |exprs: &[String]| {
        let steps: String = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("  - id: s{i}\n    if: '{e}'\n    wait: {{ duration: 0s }}\n"))
            .collect();
        format!("name: deep\ntrigger: manual\nsteps:\n{steps}")
    };
    let parens = format!("{}1{} == 1", "(".repeat(60), ")".repeat(60));
    let lists = format!("size({}{}) == 1", "[".repeat(200), "]".repeat(200));
    let plus_chain = vec!["1"; 70].join(" + ") + " > 0";
    let ten_thousand = vec!["1"; 10_000].join("+") + " > 0";
    let list_literal = format!("size([{}]) > 0", vec!["1"; 200_000].join(","));
    k.write(
        "deep.yaml",
        &auto(&[parens, lists, plus_chain, ten_thousand, list_literal]),
    );
    expect_errors(
        &refused(&k, "deep.yaml"),
        &[
            "5:42: brackets and conditionals nest more than 32 levels deep here",
            "8:46: brackets and conditionals nest more than 32 levels deep here",
            "11:38: the expression is more than 64 operations deep here",
            "14:10: the expression is 20003 bytes long; the limit is 4096",
            "17:10: the expression is 400011 bytes long; the limit is 4096",
        ],
    );
    // Right at the limits, they compile and run.
    let at_limit = format!("{}1{} == 1", "(".repeat(32), ")".repeat(32));
    let chain = vec!["1"; 30].join(" + ") + " > 0";
    k.write(
        "automations/ok.yaml",
        &auto(&[at_limit, chain]).replace("deep", "ok"),
    );
    within(&k, &["run", "ok"], 0);
}

#[test]
fn deep_data_reaches_expressions_safely() {
    let k = Keystep::new();
    k.write(
        "automations/data.yaml",
        "name: data\ntrigger: manual\nsteps:\n  - id: a\n    if: ctx.trigger.d == ctx.trigger.d\n    wait: { duration: 0s }\n",
    );
    let nest = |n: usize| format!(r#"{{"d": {}1{}}}"#, "[".repeat(n), "]".repeat(n));
    within(&k, &["run", "data", "--input", &nest(100)], 0);
    let ran = within(&k, &["run", "data", "--input", &nest(10_000)], 2);
    assert!(ran.stderr.contains("--input is not valid JSON"), "{ran:#?}");
    // A value built deeper than the store reads back (128 levels) would
    // reach the child as an empty trigger: it is refused instead.
    k.write(
        "automations/parent.yaml",
        "name: parent\ntrigger: manual\nsteps:\n  - id: call\n    run_automation: { automation: data, context: { d: \"{{ [[ctx.trigger.d]] }}\" }, wait: true }\n",
    );
    let ran = within(&k, &["--json", "run", "parent", "--input", &nest(126)], 1);
    // (The history holds the 126-deep input, too deep for the test's JSON
    // parser inside `{"run": {"trigger": …}}`: read it as text.)
    assert!(
        ran.stdout
            .contains("field `context`: the value nests lists and maps more than 100 levels deep"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE automation = 'data' AND trigger = 'null'"),
        0
    );
}

#[test]
fn yaml_nested_too_deep_is_refused_before_the_tree_is_built() {
    let k = Keystep::new();
    let block: String = (0..5000)
        .map(|i| format!("{}-\n", "  ".repeat(i)))
        .collect();
    k.write(
        "block.yaml",
        &format!(
            "name: b\ntrigger: manual\nsteps:\n  - id: a\n    wait: {{ duration: 0s }}\nx:\n{block}"
        ),
    );
    expect_errors(
        &refused(&k, "block.yaml"),
        &["70:127: mappings and lists nest more than 64 levels deep here"],
    );
    let flow = |n: usize| {
        format!(
            "name: f\ntrigger: manual\nsteps: {}{}\n",
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    k.write("flow.yaml", &flow(100));
    expect_errors(
        &refused(&k, "flow.yaml"),
        &["3:71: mappings and lists nest more than 64 levels deep here"],
    );
    // Deeper still, the YAML scanner's own limit speaks first.
    k.write("flow.yaml", &flow(5000));
    expect_errors(
        &refused(&k, "flow.yaml"),
        &["3:263: invalid YAML: recursion limit exceeded"],
    );
}

#[test]
fn an_automation_file_is_one_yaml_document_of_text_and_may_start_with_a_bom() {
    let k = Keystep::new();
    let text = "name: framed\ntrigger: manual\nsteps:\n  - id: a\n    wait: { duration: 0s }\n";
    k.write("two.yaml", &format!("{text}---\nname: second\n"));
    expect_errors(
        &refused(&k, "two.yaml"),
        &["6:1: a second YAML document starts here"],
    );
    k.write("nul.yaml", &text.replace("manual", "man\0ual"));
    expect_errors(
        &refused(&k, "nul.yaml"),
        &["2:13: the file holds a NUL byte"],
    );
    k.write("automations/bom.yaml", &format!("\u{feff}{text}"));
    within(&k, &["validate", "automations/bom.yaml"], 0);
    within(&k, &["run", "framed"], 0);
}
