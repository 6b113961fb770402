//! Checks that need more than one file: `ctx.` references against step
//! order, literal references against the directory and the catalog, and
//! cycles between automations.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use super::catalog::{Catalog, LoadError};
use super::fields::FieldKind;
use super::spec;
use super::{Automation, Diagnostic, Pos};
use crate::directory::DirectoryReads;
use crate::expr::Expr;
use crate::plugins::{Plugins, World};
use crate::suggest::suggest;

/// Runs every check on `automation`. `dir` is `None` when the directory is
/// empty, and literal users, entitlements and templates are then not checked.
/// Literal function and connector names are looked up in `plugins`, unless
/// it is `None` (the plugin folders hold nothing).
pub fn check(
    automation: &Automation,
    dir: Option<&dyn DirectoryReads>,
    catalog: &Catalog,
    plugins: Option<&Plugins>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut error = |pos: Pos, message: String| {
        out.push(Diagnostic {
            file: automation.path.clone(),
            pos,
            message,
        })
    };
    if let Some(when) = &automation.trigger.when {
        for root in when.context_roots() {
            if root != "trigger" && root != "run" {
                error(
                    automation.trigger.pos,
                    format!(
                        "trigger condition reads ctx.{root}; only ctx.trigger and ctx.run exist before the first step"
                    ),
                );
            }
        }
    }
    for problem in schedule_problems(automation) {
        error(
            automation.trigger.pos,
            format!("trigger `schedule`: {problem}"),
        );
    }
    if let Some(problem) = automation.trigger.when.as_ref().and_then(bad_pattern) {
        error(
            automation.trigger.pos,
            format!("trigger condition: {problem}"),
        );
    }
    // Step ids to positions, once: a lookup per reference stays constant-time.
    let mut step_ids = HashMap::new();
    for (i, step) in automation.steps.iter().enumerate() {
        step_ids.entry(step.id.as_str()).or_insert(i);
    }
    // `output:` reads what the steps left: every step is before it.
    for expr in automation.output.iter().flat_map(|t| t.exprs()) {
        for root in expr.context_roots() {
            let last = automation.steps.len();
            if let Some(message) = reference_problem(automation, &step_ids, last, &root) {
                error(automation.trigger.pos, format!("output: {message}"));
            }
        }
    }
    for (index, step) in automation.steps.iter().enumerate() {
        for (expr, pos) in step.exprs() {
            if let Some(problem) = bad_pattern(expr) {
                error(pos, format!("step `{}`: {problem}", step.id));
            }
            for root in expr.context_roots() {
                if let Some(message) = reference_problem(automation, &step_ids, index, &root) {
                    error(pos, format!("step `{}`: {message}", step.id));
                }
            }
        }
        let Some(spec) = spec::spec(&step.kind) else {
            continue;
        };
        if let (Some(plugins), true) = (plugins, spec.kind == "perform_connector_action") {
            for (pos, why) in super::check_actions::problems(plugins, step) {
                error(pos, format!("{}: {why}", step.kind));
            }
        }
        for field in &step.fields {
            let (Some(literal), Some(kind)) = (
                field.template.literal(),
                spec.fields
                    .iter()
                    .find(|f| f.name == field.name)
                    .map(|f| f.kind),
            ) else {
                continue;
            };
            let problems = match kind {
                FieldKind::Automation => automation_problem(automation, literal, catalog),
                FieldKind::Function | FieldKind::Connector => plugins
                    .map(|p| plugin_problem(p, literal, kind == FieldKind::Function))
                    .unwrap_or_default(),
                _ => dir
                    .map(|d| directory_problems(d, kind, literal))
                    .unwrap_or_default(),
            };
            for problem in problems {
                error(
                    field.pos,
                    format!("{}.{}: {problem}", step.kind, field.name),
                );
            }
        }
    }
    out
}

/// Why a literal pattern given to `matches()` is not a regular expression,
/// if one is not: CEL compiles the pattern only when the call runs.
fn bad_pattern(expr: &Expr) -> Option<String> {
    expr.literal_patterns().into_iter().find_map(|pattern| {
        let e = regex::Regex::new(&pattern).err()?;
        let why = e.to_string();
        let why = why.lines().last().unwrap_or_default().trim().to_string();
        Some(format!(
            "`{}`: `{pattern}` is not a valid regular expression ({why})",
            expr.source()
        ))
    })
}

/// Why `ctx.<root>` cannot be read by step `index`, if it cannot.
fn reference_problem(
    automation: &Automation,
    step_ids: &HashMap<&str, usize>,
    index: usize,
    root: &str,
) -> Option<String> {
    if root == "trigger" || root == "run" {
        return None;
    }
    match step_ids.get(root).copied() {
        Some(i) if i < index => None,
        Some(i) if i == index => Some(format!(
            "ctx.{root} is this step's own output, which does not exist yet"
        )),
        Some(_) => Some(format!(
            "ctx.{root} refers to a step that comes later; only earlier steps' outputs can be read"
        )),
        None => {
            let known = automation.steps[..index]
                .iter()
                .map(|s| s.id.as_str())
                .chain(["trigger", "run"]);
            let hint = suggest(root, known);
            Some(format!(
                "ctx.{root} is not a step id{hint}; expected ctx.trigger, ctx.run or an earlier step's id"
            ))
        }
    }
}

/// Why the plugin a literal names cannot be used, if it cannot.
fn plugin_problem(plugins: &Plugins, literal: &Json, function: bool) -> Vec<String> {
    let Some(name) = literal.as_str() else {
        return Vec::new();
    };
    let world = if function {
        World::Function
    } else {
        World::Connector
    };
    match plugins.find(name) {
        Ok(e) if e.found.world == Some(world) => e.grants.err().into_iter().collect(),
        Ok(_) => vec![format!("plugin `{name}` is not a {world}")],
        Err(e) if e.code.as_deref() == Some("not-found") => {
            let known: Vec<String> = plugins
                .list()
                .into_iter()
                .flatten()
                .map(|e| e.name)
                .collect();
            let hint = suggest(name, known.iter().map(String::as_str));
            vec![format!(
                "no {world} plugin `{name}`{hint} in the plugin folders"
            )]
        }
        Err(e) => vec![crate::plugins::detail(name, &e).to_string()],
    }
}

fn strings(value: &Json) -> Vec<&str> {
    match value {
        Json::String(s) => vec![s.as_str()],
        Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

fn directory_problems(dir: &dyn DirectoryReads, kind: FieldKind, literal: &Json) -> Vec<String> {
    let exists = |what: &str, id: &str| -> Option<String> {
        let found = match what {
            "user" => dir.user(id).map(|u| u.is_some()),
            "entitlement" => dir.entitlement(id).map(|e| e.is_some()),
            "app" => dir.app(id).map(|a| a.is_some()),
            "access profile" => dir.access_profile(id).map(|p| p.is_some()),
            _ => dir.review_template(id).map(|t| t.is_some()),
        };
        match found {
            Ok(true) => None,
            Ok(false) => Some(format!("unknown {what} `{id}`")),
            Err(e) => Some(format!("cannot check {what} `{id}`: {e}")),
        }
    };
    match kind {
        FieldKind::User | FieldKind::Users | FieldKind::Recipients => strings(literal)
            .into_iter()
            .filter(|id| *id != "subject" && !id.contains('@'))
            .filter_map(|id| exists("user", id))
            .collect(),
        FieldKind::Entitlements => match literal {
            Json::Object(selector) => selector
                .get("app")
                .and_then(Json::as_str)
                .and_then(|app| exists("app", app))
                .into_iter()
                .collect(),
            _ => strings(literal)
                .into_iter()
                .filter(|id| *id != "all")
                .filter_map(|id| exists("entitlement", id))
                .collect(),
        },
        FieldKind::Profiles => strings(literal)
            .into_iter()
            .filter(|id| *id != "all")
            .filter_map(|id| exists("access profile", id))
            .collect(),
        FieldKind::ReviewTemplate => strings(literal)
            .into_iter()
            .filter_map(|id| exists("review template", id))
            .collect(),
        _ => Vec::new(),
    }
}

/// A literal `run_automation` target must exist, be runnable on demand, and
/// not lead back to `automation`.
fn automation_problem(automation: &Automation, literal: &Json, catalog: &Catalog) -> Vec<String> {
    let Some(name) = literal.as_str() else {
        return Vec::new();
    };
    let target = match catalog.find(name) {
        Ok(t) => t,
        // Its own errors are reported against its own file.
        Err(LoadError::Invalid(found)) => {
            let file = found
                .first()
                .map(|d| d.file.display().to_string())
                .unwrap_or_default();
            return vec![format!(
                "automation `{name}` has errors of its own ({file})"
            )];
        }
        Err(e) => return vec![e.to_string()],
    };
    if target.trigger.kind != "manual" {
        return vec![format!(
            "automation `{name}` has trigger `{}`; run_automation needs one with `trigger: manual`",
            target.trigger.kind
        )];
    }
    let mut path = vec![automation.name.clone()];
    let mut seen = HashSet::new();
    match find_cycle(&target, &automation.name, catalog, &mut path, &mut seen) {
        Some(cycle) => vec![format!("run_automation cycle: {}", cycle.join(" → "))],
        None => Vec::new(),
    }
}

/// Follows literal `run_automation` targets from `from`, looking for `start`.
fn find_cycle(
    from: &Automation,
    start: &str,
    catalog: &Catalog,
    path: &mut Vec<String>,
    seen: &mut HashSet<String>,
) -> Option<Vec<String>> {
    path.push(from.name.clone());
    if from.name == start {
        return Some(path.clone());
    }
    if seen.insert(from.name.clone()) {
        for step in from.steps.iter().filter(|s| s.kind == "run_automation") {
            let Some(next) = step
                .field("automation")
                .and_then(|f| f.template.literal())
                .and_then(Json::as_str)
            else {
                continue;
            };
            if let Ok(next) = catalog.find(next)
                && let Some(cycle) = find_cycle(&next, start, catalog, path, seen)
            {
                return Some(cycle);
            }
        }
    }
    path.pop();
    None
}

/// A `schedule` trigger's cron pattern, timezone and `for_each_user`
/// condition, each checked as `serve` will read it.
fn schedule_problems(automation: &Automation) -> Vec<String> {
    let trigger = &automation.trigger;
    if trigger.kind != "schedule" {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if let Err(e) = super::schedule::Schedule::from_settings(&trigger.settings) {
        problems.push(e);
    }
    match trigger.settings.get("for_each_user") {
        // `true`: every user; `false`: none.
        None | Some(serde_json::Value::Bool(_)) => {}
        Some(serde_json::Value::String(source)) => {
            if let Err(e) = crate::expr::Expr::compile(source) {
                problems.push(format!("for_each_user: {}", e.message));
            }
        }
        Some(other) => problems.push(format!(
            "for_each_user must be true or a CEL condition on ctx.trigger.user, got {other}"
        )),
    }
    problems
}
