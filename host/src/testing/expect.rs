//! A case's expectations against what its run did (pure): each difference
//! a line naming where it is, what was expected and what was found.

use serde_json::{Value as Json, json};

use super::file::Expect;
use crate::expr::{Expr, Scope};

/// What a case's run did and left.
#[derive(Debug, Default)]
pub struct Observed {
    pub started: bool,
    /// The run as history shows it (`run`, `steps`), when it started.
    pub history: Json,
    pub sent: Vec<Json>,
    /// `users` and `grants` (by user id), `tasks`, as JSON.
    pub directory: Json,
}

/// Every difference between `expect` and `seen`.
pub fn differences(expect: &Expect, seen: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(started) = expect.started.filter(|s| *s != seen.started) {
        out.push(format!("started: expected {started}, got {}", seen.started));
    }
    if !seen.started {
        return out;
    }
    let run = &seen.history["run"];
    if let Some(state) = &expect.state {
        same(&mut out, "state", &json!(state), &run["state"]);
    }
    if let Some(part) = &expect.error {
        let error = run["error"].as_str().unwrap_or_default();
        if !error.contains(part.as_str()) {
            out.push(format!(
                "error: expected it to contain {part:?}, got {:?}",
                run["error"]
            ));
        }
    }
    for (step, want) in &expect.steps {
        let got = last_attempt(seen, step).map_or(json!("not_run"), |a| a["state"].clone());
        same(&mut out, &format!("steps.{step}"), &json!(want), &got);
    }
    for (step, want) in &expect.outputs {
        subset(
            &mut out,
            &format!("outputs.{step}"),
            want,
            &run["outputs"][step],
        );
    }
    if let Some(want) = &expect.output {
        subset(&mut out, "output", want, &run["output"]);
    }
    if let Some(want) = &expect.sent {
        subset(&mut out, "sent", &json!(want), &json!(seen.sent));
    }
    checks(&mut out, &expect.checks, run);
    if let Some(dir) = &expect.directory {
        for (user, want) in &dir.users {
            let got = &seen.directory["users"][user];
            subset(&mut out, &format!("directory.users.{user}"), want, got);
        }
        for (user, want) in &dir.grants {
            let mut want = want.clone();
            want.sort();
            let got = &seen.directory["grants"][user];
            same(
                &mut out,
                &format!("directory.grants.{user}"),
                &json!(want),
                got,
            );
        }
        let tasks = seen.directory["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, want) in dir.tasks.iter().enumerate() {
            if !tasks.iter().any(|t| matches(want, t)) {
                out.push(format!("directory.tasks[{i}]: no task has {want}"));
            }
        }
    }
    out
}

fn last_attempt<'a>(seen: &'a Observed, step: &str) -> Option<&'a Json> {
    let steps = seen.history["steps"].as_array()?;
    steps.iter().rev().find(|a| a["step_id"] == step)
}

/// The `checks:` expressions, each true over the run's `ctx`.
fn checks(out: &mut Vec<String>, checks: &[String], run: &Json) {
    let mut ctx = json!({
        "trigger": run["trigger"],
        "run": {"id": run["id"], "automation": run["automation"], "subject": run["subject_id"]},
    });
    if let (Json::Object(ctx), Json::Object(outputs)) = (&mut ctx, &run["outputs"]) {
        ctx.extend(outputs.clone());
    }
    let scope = Scope::new(&ctx);
    for check in checks {
        let held = Expr::compile(check)
            .map_err(|e| format!("column {}: {}", e.column, e.message))
            .and_then(|e| e.eval_bool(&scope));
        match held {
            Ok(true) => {}
            Ok(false) => out.push(format!("checks: `{check}` is false")),
            Err(e) => out.push(format!("checks: `{check}`: {e}")),
        }
    }
}

fn same(out: &mut Vec<String>, at: &str, want: &Json, got: &Json) {
    if want != got {
        out.push(format!("{at}: expected {want}, got {got}"));
    }
}

/// Whether `got` holds `want`: objects at least its keys, lists the same
/// length with each item holding the wanted one, other values equal.
fn matches(want: &Json, got: &Json) -> bool {
    let mut found = Vec::new();
    subset(&mut found, "", want, got);
    found.is_empty()
}

fn subset(out: &mut Vec<String>, at: &str, want: &Json, got: &Json) {
    match (want, got) {
        (Json::Object(want), Json::Object(got)) => {
            for (key, w) in want {
                subset(
                    out,
                    &format!("{at}.{key}"),
                    w,
                    got.get(key).unwrap_or(&Json::Null),
                );
            }
        }
        (Json::Array(want), Json::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                subset(out, &format!("{at}[{i}]"), w, g);
            }
        }
        (Json::Array(want), Json::Array(got)) => out.push(format!(
            "{at}: expected {} items, got {}: {}",
            want.len(),
            got.len(),
            Json::Array(got.clone())
        )),
        _ => same(out, at, want, got),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subset_names_each_difference_by_its_path() {
        let mut out = Vec::new();
        let want = json!({"a": 1, "b": {"c": [1, {"d": "x"}]}});
        let got = json!({"a": 1, "b": {"c": [1, {"d": "y", "e": 2}]}, "z": 0});
        subset(&mut out, "outputs.s", &want, &got);
        assert_eq!(out, [r#"outputs.s.b.c[1].d: expected "x", got "y""#]);
        assert!(matches(
            &json!({"kind": "revoke"}),
            &json!({"kind": "revoke", "id": 3})
        ));
        assert!(!matches(&json!([1]), &json!([1, 2])));
    }

    #[test]
    fn checks_read_every_steps_output_and_say_which_failed() {
        let run = json!({"trigger": {"user_id": "u"}, "outputs": {"s": {"n": 2}}});
        let mut out = Vec::new();
        let checks = [
            "ctx.s.n == 2".to_string(),
            "ctx.s.n > 5".to_string(),
            "ctx.(".to_string(),
        ];
        super::checks(&mut out, &checks, &run);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].contains("`ctx.s.n > 5` is false"));
    }
}
