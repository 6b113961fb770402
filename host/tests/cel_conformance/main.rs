//! The CEL specification's conformance cases (cel-spec
//! `tests/simple/testdata`) run through keystep's own CEL: each expression
//! compiled with `keystep::expr::Expr::compile` (keystep's limits and
//! budget included) and evaluated with `Expr::eval_value`, so the count is
//! keystep's, not the bare `cel` crate's.
//!
//! Why: automations are written in CEL, and people write it from the spec
//! and other CEL implementations' documentation. This says how much of the
//! spec holds in keystep, and fails when an upgrade of `cel` (or a change to
//! keystep's budget or limits) makes a case that passed fail.
//!
//! The data comes from npm, `@bufbuild/cel-spec` (pinned in
//! `tests/cel-spec/package-lock.json`; `npm ci --prefix tests/cel-spec`,
//! which `scripts/test` runs), which ships the cel-spec files as one
//! JavaScript object literal; `node` prints it as JSON for serde_json.
//!
//! A case passes when its result is the expected value, compared strictly
//! ([`values::same`]: the same kind and equal, so `1u` is not `1`), or
//! when an error is expected and keystep fails to compile or evaluate it.
//! Cases of what keystep's CEL does not have (protobuf messages, a
//! container, the type checker, extension libraries: [`applies`]) count as
//! not applicable, by category. A panic in a case is that case's failure.
//!
//! `cargo test -p keystep --test cel_conformance -- --nocapture` prints
//! the report; `KEYSTEP_CEL_CONFORMANCE_VERBOSE=1` adds the first failures
//! of each file (`=all`: every one).

mod applies;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use cel::Value;
use keystep::expr::Expr;
use serde::Deserialize;
use serde_json::Value as Json;

use values::{Unsupported, cut, same, show};

/// At least this many applicable cases pass: the count measured with
/// `@bufbuild/cel-spec` 0.6.1 (cel-spec v0.25.1) and cel 0.15, of 1167.
const FLOOR: usize = 1142;

/// Files every applicable case of which passes, and must keep passing.
const WHOLE: &[&str] = &[
    "comparisons",
    "conversions",
    "dynamic",
    "fp_math",
    "integer_math",
    "lists",
    "logic",
    "macros",
    "namespace",
    "optionals",
    "plumbing",
    "string",
    "type_deductions",
];

/// One of the spec's `SimpleTest`s, in its protobuf JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Test {
    name: String,
    #[serde(default, rename = "description")]
    _description: String,
    expr: String,
    #[serde(default)]
    disable_macros: bool,
    /// keystep never type-checks: these run like every other case.
    #[serde(default, rename = "disableCheck")]
    _disable_check: bool,
    #[serde(default)]
    check_only: bool,
    #[serde(default)]
    type_env: Vec<Json>,
    #[serde(default)]
    container: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    bindings: BTreeMap<String, Json>,
    value: Option<Json>,
    typed_result: Option<Json>,
    eval_error: Option<Json>,
    any_eval_errors: Option<Json>,
    unknown: Option<Json>,
    any_unknowns: Option<Json>,
}

/// A file of the spec: its name and its cases, each with its section.
struct File {
    name: String,
    tests: Vec<(String, Test)>,
}

/// What a case expects.
enum Want {
    Value(Value),
    /// A type value, such as `int` for `type(1)`.
    Type(String),
    Error,
}

/// What keystep made of a case.
enum Got {
    Value(Value),
    Compile(String),
    Eval(String),
}

enum Outcome {
    Pass,
    /// An error was expected, and keystep refused to compile the case.
    Refused,
    Fail(Failure),
    NotApplicable(Unsupported),
}

struct Failure {
    kind: &'static str,
    expected: String,
    got: String,
}

/// One file's results.
#[derive(Default)]
struct Tally {
    passed: usize,
    /// Of `passed`, the cases that expect an error and keystep did not
    /// compile.
    refused: usize,
    /// `section/name`, the expression and how it failed.
    failed: Vec<(String, String, Failure)>,
    not_applicable: BTreeMap<Unsupported, usize>,
}

#[test]
fn cel_spec_conformance() {
    let (version, files) = load();
    let started = Instant::now();
    // The stack keystep's run threads have: evaluating at the nesting
    // limit needs about 4 MiB in a debug build.
    let tallies = std::thread::Builder::new()
        .stack_size(keystep::engine::STACK_BYTES)
        .spawn(move || {
            let tallies: Vec<(String, Tally)> = files
                .iter()
                .map(|f| (f.name.clone(), run_file(f)))
                .collect();
            tallies
        })
        .unwrap()
        .join()
        .expect("the cases run under keystep::panics::catch");
    let (passed, failed, _) = print_report(&version, &tallies, started);
    assert!(
        passed >= FLOOR,
        "{passed} cases pass, fewer than the {FLOOR} that did ({failed} fail): \
         KEYSTEP_CEL_CONFORMANCE_VERBOSE=1 shows them"
    );
    for (name, tally) in tallies.iter().filter(|(n, _)| WHOLE.contains(&n.as_str())) {
        assert!(
            tally.failed.is_empty(),
            "{name}: {} cases fail, where all passed; the first: {} `{}`",
            tally.failed.len(),
            tally.failed[0].0,
            tally.failed[0].1
        );
    }
}

/// Prints the data as JSON, doubles as text: JavaScript writes a double's
/// shortest form, which Rust parses exactly and serde_json does not always
/// (`1.38e-23` became `1.3799999999999998e-23`).
const PRINT_JSON: &str = r#"
const double = (k, v) => k === "doubleValue" && typeof v === "number"
    ? (Object.is(v, -0) ? "-0" : String(v)) : v;
process.stdout.write(JSON.stringify(require(process.argv[1]).tests, double));
"#;

/// The spec's files, and the package's version for the report.
fn load() -> (String, Vec<File>) {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/cel-spec/node_modules/@bufbuild/cel-spec");
    let data = package.join("dist/cjs/testdata/conformance.js");
    assert!(
        data.is_file(),
        "the CEL conformance data is not installed (no {}): run \
         `npm ci --prefix tests/cel-spec` at the repository's root (scripts/test does)",
        data.display()
    );
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(package.join("package.json")).unwrap()).unwrap();
    let version = format!(
        "@bufbuild/cel-spec {}, cel-spec {}",
        manifest["version"].as_str().unwrap_or("?"),
        manifest["upstreamCelSpecRef"].as_str().unwrap_or("?")
    );
    let out = Command::new("node")
        .arg("-e")
        .arg(PRINT_JSON)
        .arg(&data)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node, which reads {}: {e}", data.display()));
    assert!(
        out.status.success(),
        "node cannot read {}: {}",
        data.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let root: Json = serde_json::from_slice(&out.stdout).expect("node prints JSON");
    let files = root["suites"].as_array().expect("the files").iter();
    (version, files.map(file).collect())
}

/// A file's suite: its sections' tests, each under `original`.
fn file(suite: &Json) -> File {
    let mut tests = Vec::new();
    for section in suite["suites"].as_array().map_or(&[][..], Vec::as_slice) {
        let name = section["name"].as_str().unwrap_or_default();
        for test in section["tests"].as_array().map_or(&[][..], Vec::as_slice) {
            let test = Test::deserialize(&test["original"])
                .unwrap_or_else(|e| panic!("a test of {name} the harness cannot read: {e}"));
            tests.push((name.to_string(), test));
        }
    }
    File {
        name: suite["name"].as_str().unwrap_or_default().to_string(),
        tests,
    }
}

fn run_file(file: &File) -> Tally {
    let mut tally = Tally::default();
    for (section, test) in &file.tests {
        let outcome = keystep::panics::catch(|| run(&file.name, test)).unwrap_or_else(|panic| {
            Outcome::Fail(Failure {
                kind: "panic",
                expected: "no panic".into(),
                got: panic,
            })
        });
        match outcome {
            Outcome::Pass => tally.passed += 1,
            Outcome::Refused => {
                (tally.passed, tally.refused) = (tally.passed + 1, tally.refused + 1)
            }
            Outcome::Fail(failure) => {
                let at = format!("{section}/{}", test.name);
                tally.failed.push((at, test.expr.clone(), failure));
            }
            Outcome::NotApplicable(why) => *tally.not_applicable.entry(why).or_default() += 1,
        }
    }
    tally
}

fn run(file: &str, test: &Test) -> Outcome {
    let (want, bindings) = match prepare(file, test) {
        Ok(prepared) => prepared,
        Err(why) => return Outcome::NotApplicable(why),
    };
    let got = evaluate(&test.expr, bindings.clone());
    judge(&want, got, || {
        matches!(evaluate(&format!("type({})", test.expr), bindings),
                 Got::Value(Value::String(t)) if t.as_str() == "type")
    })
}

/// The case's expected result and variables, or why it cannot apply.
fn prepare(file: &str, test: &Test) -> Result<(Want, Vec<(String, Value)>), Unsupported> {
    if let Some(why) = applies::not_applicable(file, test) {
        return Err(why);
    }
    let want = expected(test)?;
    let bindings = bind(test)?;
    match applies::needs_an_environment(test) {
        Some(why) => Err(why),
        None => Ok((want, bindings)),
    }
}

/// The case's expected result. No matcher means `true`.
fn expected(test: &Test) -> Result<Want, Unsupported> {
    if let Some(value) = &test.value {
        if let Some(name) = value.get("typeValue").and_then(Json::as_str) {
            return Ok(Want::Type(name.to_string()));
        }
        return values::value(value).map(Want::Value);
    }
    if test.eval_error.is_some() || test.any_eval_errors.is_some() {
        return Ok(Want::Error);
    }
    if let Some(typed) = &test.typed_result {
        // The deduced type is the checker's, which keystep has not: only
        // the result is compared.
        return match typed.get("result") {
            Some(result) => values::value(result).map(Want::Value),
            None => Err(applies::CHECK_ONLY),
        };
    }
    if test.unknown.is_some() || test.any_unknowns.is_some() {
        return Err("unknowns");
    }
    Ok(Want::Value(Value::Bool(true)))
}

/// The case's variables, by name. Their declarations (`typeEnv`) are for
/// the type checker.
fn bind(test: &Test) -> Result<Vec<(String, Value)>, Unsupported> {
    test.bindings
        .iter()
        .map(|(name, bound)| match bound.get("value") {
            Some(value) => Ok((name.clone(), values::value(value)?)),
            None => Err("variables bound to errors or unknowns"),
        })
        .collect()
}

/// `expr` through keystep: compiled within its limits, evaluated within its
/// budget.
fn evaluate(expr: &str, variables: Vec<(String, Value)>) -> Got {
    match Expr::compile(expr) {
        Err(e) => Got::Compile(format!("{} (column {})", e.message, e.column)),
        Ok(compiled) => match compiled.eval_value(variables) {
            Ok(value) => Got::Value(value),
            Err(message) => Got::Eval(message),
        },
    }
}

/// Whether `got` is what was wanted. `is_type_value` tells whether the
/// expression's result is a type value, which reaches `cel::Value` as its
/// name, a string.
fn judge(want: &Want, got: Got, is_type_value: impl FnOnce() -> bool) -> Outcome {
    let (kind, got) = match (want, got) {
        (Want::Error, Got::Eval(_)) => return Outcome::Pass,
        (Want::Error, Got::Compile(_)) => return Outcome::Refused,
        (Want::Value(w), Got::Value(g)) if same(w, &g) => return Outcome::Pass,
        (Want::Type(w), Got::Value(Value::String(g))) if **g == *w && is_type_value() => {
            return Outcome::Pass;
        }
        (Want::Error, Got::Value(g)) => ("a value where an error was expected", show(&g)),
        (_, Got::Value(g)) => ("a wrong value", show(&g)),
        (_, Got::Eval(e)) => ("an evaluation error", cut(&e)),
        (_, Got::Compile(e)) => ("refused by the parser or keystep's limits", cut(&e)),
    };
    let expected = match want {
        Want::Value(v) => show(v),
        Want::Type(t) => format!("the type {t}"),
        Want::Error => "an error".to_string(),
    };
    Outcome::Fail(Failure {
        kind,
        expected,
        got,
    })
}

/// Prints the per-file table, the failures by kind, the categories of the
/// cases that do not apply, and the total; the failures themselves when
/// asked. Returns the passed, failed and not applicable counts.
fn print_report(
    version: &str,
    tallies: &[(String, Tally)],
    started: Instant,
) -> (usize, usize, usize) {
    let verbose = std::env::var("KEYSTEP_CEL_CONFORMANCE_VERBOSE").unwrap_or_default();
    let shown = match verbose.as_str() {
        "" | "0" => 0,
        "all" => usize::MAX,
        _ => 10,
    };
    println!("\ncel-spec conformance cases ({version}) through keystep::expr::Expr");
    println!("{:<16} {:>5} {:>5} {:>5}", "file", "pass", "fail", "n/a");
    let (mut passed, mut failed, mut na, mut refused) = (0, 0, 0, 0);
    let mut kinds = BTreeMap::<&str, usize>::new();
    let mut categories = BTreeMap::<&str, usize>::new();
    for (name, t) in tallies {
        let file_na: usize = t.not_applicable.values().sum();
        println!(
            "{name:<16} {:>5} {:>5} {:>5}",
            t.passed,
            t.failed.len(),
            file_na
        );
        (passed, failed, na) = (passed + t.passed, failed + t.failed.len(), na + file_na);
        refused += t.refused;
        for (_, _, f) in &t.failed {
            *kinds.entry(f.kind).or_default() += 1;
        }
        for (why, n) in &t.not_applicable {
            *categories.entry(why).or_default() += n;
        }
        if shown > 0 && file_na > 0 {
            println!("    not applicable: {}", join(&t.not_applicable));
        }
        for (at, expr, f) in t.failed.iter().take(shown) {
            println!("    {at}: {}", cut(expr));
            println!("        expected {}, got {}: {}", f.expected, f.kind, f.got);
        }
    }
    println!("failures: {}", join(&kinds));
    println!("not applicable: {}", join(&categories));
    println!("passes that expect an error and were refused at compile time: {refused}");
    let applicable = passed + failed;
    let percent = 100.0 * passed as f64 / applicable.max(1) as f64;
    println!(
        "cel-spec conformance: {passed} of {applicable} applicable cases pass \
         ({percent:.1} %), {na} not applicable; in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (passed, failed, na)
}

fn join(counts: &BTreeMap<&str, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}
