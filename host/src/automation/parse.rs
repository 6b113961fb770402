//! Parsing an automation file into an [`Automation`], checking its shape.

use std::path::Path;
use std::time::Duration;

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;
use sha2::{Digest, Sha256};

use super::breaker::Breaker;
use super::fields::parse_duration;
use super::spec::{self, StepSpec};
use super::yaml::{self, kind_of, pos_of, pos_of_scalar, to_json};
use super::{
    Automation, Diagnostic, FieldValue, OnError, Pos, RetryPolicy, StepDef, TRIGGERS, Trigger,
};
use crate::expr::{Expr, Template};

const STEP_COMMON_KEYS: &[&str] = &["id", "if", "retry", "timeout", "on_error", "description"];

/// Parses `text`, read from `path`. All problems found are returned at once.
/// A byte order mark at the start is allowed, as editors write one.
pub fn parse(path: &Path, text: &str) -> Result<Automation, Vec<Diagnostic>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        path,
        text: body,
        chars: std::cell::OnceCell::new(),
        diagnostics: Vec::new(),
    };
    let root = match yaml::load(body) {
        Ok(root) => root,
        Err((pos, message)) => {
            p.error(pos, message);
            return Err(p.diagnostics);
        }
    };
    let Some(top) = root.as_mapping() else {
        p.error(
            pos_of(&root),
            "expected a mapping with name, trigger and steps",
        );
        return Err(p.diagnostics);
    };
    p.unknown_keys(
        top,
        &[
            "name",
            "description",
            "trigger",
            "steps",
            "output",
            "max_runs",
        ],
        "automation",
    );
    let name = p.required_string(top, "name", pos_of(&root));
    let description = top
        .get_scalar("description")
        .map(|s| s.as_str().to_string());
    let trigger = match top.get_node("trigger") {
        Some(node) => p.trigger(node),
        None => {
            p.error(
                pos_of(&root),
                "missing `trigger` (for example `trigger: manual`)",
            );
            None
        }
    };
    let steps = match top.get_node("steps") {
        Some(Node::Sequence(items)) => {
            if items.is_empty() {
                p.error(pos_of(top.get_node("steps").unwrap()), "`steps` is empty");
            }
            items.iter().filter_map(|n| p.step(n)).collect::<Vec<_>>()
        }
        Some(other) => {
            p.error(
                pos_of(other),
                format!("`steps` must be a list, found {}", kind_of(other)),
            );
            Vec::new()
        }
        None => {
            p.error(pos_of(&root), "missing `steps`");
            Vec::new()
        }
    };
    p.unique_ids(&steps);
    let output = top.get_node("output").and_then(|node| p.output(node));
    let max_runs = top
        .get_node("max_runs")
        .and_then(|node| match Breaker::from_node(node) {
            Ok(breaker) => Some(breaker),
            Err((pos, message)) => {
                p.error(pos, message);
                None
            }
        });
    match (name, trigger, p.diagnostics.is_empty()) {
        (Some(name), Some(trigger), true) => Ok(Automation {
            name,
            description,
            trigger,
            steps,
            output,
            max_runs,
            path: path.to_path_buf(),
            source: text.to_string(),
            hash: hex_sha256(text),
        }),
        _ => Err(p.diagnostics),
    }
}

impl Parser<'_> {
    /// Compiles a value holding `{{ }}` expressions; a CEL syntax error is
    /// reported where in the value it is, naming `what`.
    fn template(&mut self, value: &Node, what: &str) -> Option<Template> {
        let pos = pos_of(value);
        match Template::compile(&to_json(value)) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = match value {
                    Node::Scalar(s) => {
                        let before = s
                            .as_str()
                            .get(..e.offset)
                            .unwrap_or_default()
                            .chars()
                            .count();
                        self.pos_in_scalar(value, before + e.error.column.saturating_sub(1))
                    }
                    _ => pos,
                };
                self.error(at, format!("{what}: CEL syntax error: {}", e.error.message));
                None
            }
        }
    }

    /// The automation's `output:`: a mapping of templates.
    fn output(&mut self, node: &Node) -> Option<Template> {
        if !matches!(node, Node::Mapping(_)) {
            self.error(
                pos_of(node),
                format!(
                    "`output` must be a mapping of names to values, found {}",
                    kind_of(node)
                ),
            );
            return None;
        }
        self.template(node, "output")
    }
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    /// The text's characters, made on the first error that needs a column
    /// inside a scalar: positions count characters, and counting from the
    /// start for every error would make a file of many errors quadratic.
    chars: std::cell::OnceCell<Vec<char>>,
    diagnostics: Vec<Diagnostic>,
}

impl Parser<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.path.to_path_buf(),
            pos,
            message: message.into(),
        });
    }

    fn unknown_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], what: &str) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = suggest(key.as_str(), allowed.iter().copied());
                self.error(
                    pos_of_scalar(key),
                    format!(
                        "unknown key `{}` in {what}{hint}; expected one of {}",
                        key.as_str(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn required_string(&mut self, map: &MarkedMappingNode, key: &str, at: Pos) -> Option<String> {
        match map.get_node(key) {
            Some(Node::Scalar(s)) if !s.as_str().is_empty() => Some(s.as_str().to_string()),
            Some(other) => {
                self.error(pos_of(other), format!("`{key}` must be a non-empty string"));
                None
            }
            None => {
                self.error(at, format!("missing `{key}`"));
                None
            }
        }
    }

    /// Where the character `chars` characters into a scalar's value is: past
    /// the opening quote of a quoted scalar; the scalar itself when its value
    /// does not sit on one line from there (block scalars, line breaks).
    fn pos_in_scalar(&self, node: &Node, chars: usize) -> Pos {
        let pos = pos_of(node);
        let (Node::Scalar(s), Some(start)) = (node, node.span().start()) else {
            return pos;
        };
        let text = self.chars.get_or_init(|| self.text.chars().collect());
        let quote = match text.get(start.character()) {
            Some('"' | '\'') => 1,
            Some('|' | '>') => return pos,
            _ => 0,
        };
        if s.as_str().chars().take(chars).any(|c| c == '\n') {
            return pos;
        }
        Pos {
            line: pos.line,
            column: pos.column + quote + chars,
        }
    }

    fn expr(&mut self, node: &Node, what: &str) -> Option<Expr> {
        let Node::Scalar(s) = node else {
            self.error(pos_of(node), format!("`{what}` must be a CEL expression"));
            return None;
        };
        match Expr::compile(s.as_str()) {
            Ok(e) => Some(e),
            Err(e) => {
                let pos = self.pos_in_scalar(node, e.column.saturating_sub(1));
                self.error(pos, format!("`{what}`: CEL syntax error: {}", e.message));
                None
            }
        }
    }

    fn trigger(&mut self, node: &Node) -> Option<Trigger> {
        let kinds = TRIGGERS.iter().map(|(k, _)| *k);
        let (kind_node, settings_node) = match node {
            Node::Scalar(s) => (s, None),
            Node::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().unwrap();
                (k, Some(v))
            }
            other => {
                self.error(
                    pos_of(other),
                    format!(
                        "`trigger` must name one trigger: one of {}",
                        kinds.collect::<Vec<_>>().join(", ")
                    ),
                );
                return None;
            }
        };
        let kind = kind_node.as_str();
        let Some((_, allowed)) = TRIGGERS.iter().find(|(k, _)| *k == kind) else {
            let hint = suggest(kind, kinds.clone());
            self.error(
                pos_of_scalar(kind_node),
                format!(
                    "unknown trigger `{kind}`{hint}; expected one of {}",
                    kinds.collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        };
        let mut trigger = Trigger {
            kind: kind.to_string(),
            when: None,
            settings: serde_json::Map::new(),
            pos: pos_of_scalar(kind_node),
        };
        match settings_node {
            None => {}
            Some(Node::Scalar(s)) if s.as_str().is_empty() => {}
            Some(Node::Mapping(m)) => {
                let mut keys = vec!["when"];
                keys.extend_from_slice(allowed);
                self.unknown_keys(m, &keys, &format!("trigger `{kind}`"));
                if let Some(when) = m.get_node("when") {
                    trigger.when = self.expr(when, "when");
                }
                for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "when") {
                    trigger.settings.insert(k.as_str().to_string(), to_json(v));
                }
            }
            Some(other) => self.error(
                pos_of(other),
                format!(
                    "trigger settings must be a mapping, found {}",
                    kind_of(other)
                ),
            ),
        }
        if kind == "schedule" && !trigger.settings.contains_key("cron") {
            self.error(
                trigger.pos,
                "trigger `schedule` needs `cron` (for example `0 9 * * MON`)",
            );
        }
        Some(trigger)
    }

    fn step(&mut self, node: &Node) -> Option<StepDef> {
        let Node::Mapping(map) = node else {
            self.error(
                pos_of(node),
                format!(
                    "a step must be a mapping (id: …, <step type>: …), found {}",
                    kind_of(node)
                ),
            );
            return None;
        };
        let pos = pos_of(node);
        let id = self.required_string(map, "id", pos);
        if let Some(id) = &id {
            let valid = id
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid || id == "trigger" || id == "run" {
                self.error(pos_of(map.get_node("id").unwrap()), format!("step id `{id}` must be lower_snake_case and not `trigger` or `run` (it is read as ctx.{id})"));
            }
        }
        let type_keys: Vec<_> = map
            .keys()
            .filter(|k| !STEP_COMMON_KEYS.contains(&k.as_str()))
            .collect();
        let step_type = match type_keys.as_slice() {
            [key] => match spec::spec(key.as_str()) {
                Some(step) => Some((step, *key)),
                None => {
                    let names = spec::specs().iter().map(|s| s.kind);
                    let hint = suggest(
                        key.as_str(),
                        names.clone().chain(STEP_COMMON_KEYS.iter().copied()),
                    );
                    self.error(
                        pos_of_scalar(key),
                        format!(
                            "unknown step type `{}`{hint}; expected one of {}",
                            key.as_str(),
                            names.collect::<Vec<_>>().join(", ")
                        ),
                    );
                    None
                }
            },
            [] => {
                self.error(
                    pos,
                    "the step names no step type (for example `wait: { duration: 1h }`)",
                );
                None
            }
            [_, second, ..] => {
                self.error(
                    pos_of_scalar(second),
                    format!(
                        "a step has one step type; `{}` is a second one or an unknown key",
                        second.as_str()
                    ),
                );
                None
            }
        };
        let condition = map.get_node("if").and_then(|n| self.expr(n, "if"));
        let condition_pos = map.get_node("if").map_or(pos, pos_of);
        let retry = map
            .get_node("retry")
            .and_then(|n| self.retry(n))
            .unwrap_or_default();
        let timeout = map
            .get_node("timeout")
            .and_then(|n| self.duration(n, "timeout"));
        let on_error = match map.get_node("on_error") {
            None => OnError::Fail,
            Some(Node::Scalar(s)) if s.as_str() == "fail" => OnError::Fail,
            Some(Node::Scalar(s)) if s.as_str() == "continue" => OnError::Continue,
            Some(other) => {
                self.error(pos_of(other), "`on_error` must be `fail` or `continue`");
                OnError::Fail
            }
        };
        let (step, key) = step_type?;
        let fields = self.fields(
            step,
            map.get_node(key.as_str()).unwrap(),
            pos_of_scalar(key),
        );
        let def = StepDef {
            id: id?,
            kind: step.kind.to_string(),
            fields,
            condition,
            condition_pos,
            retry,
            timeout,
            on_error,
            pos,
        };
        for (pos, message) in (step.check)(&def) {
            self.error(pos, format!("{}: {message}", def.kind));
        }
        Some(def)
    }

    fn fields(&mut self, step: &StepSpec, node: &Node, key_pos: Pos) -> Vec<FieldValue> {
        let kind = step.kind;
        let map = match node {
            Node::Mapping(m) => Some(m),
            Node::Scalar(s) if s.as_str().is_empty() => None,
            other => {
                self.error(
                    pos_of(other),
                    format!(
                        "`{kind}` takes a mapping of fields, found {}",
                        kind_of(other)
                    ),
                );
                return Vec::new();
            }
        };
        let specs = step.fields;
        let mut out = Vec::new();
        // Fields given, also those with errors: none of them is "missing".
        let mut given = Vec::new();
        if let Some(map) = map {
            for (key, value) in map.iter() {
                let name = key.as_str();
                given.push(name);
                let Some(spec) = specs.iter().find(|f| f.name == name) else {
                    let hint = suggest(name, specs.iter().map(|f| f.name));
                    let expected: Vec<_> = specs.iter().map(|f| f.name).collect();
                    self.error(
                        pos_of_scalar(key),
                        format!(
                            "{kind}: unknown field `{name}`{hint}; expected one of {}",
                            expected.join(", ")
                        ),
                    );
                    continue;
                };
                let pos = pos_of(value);
                let Some(template) = self.template(value, &format!("{kind}.{name}")) else {
                    continue;
                };
                if let Some(literal) = template.literal()
                    && let Err(expected) = spec.kind.check_literal(literal)
                {
                    self.error(pos, format!("{kind}.{name}: {expected}"));
                }
                out.push(FieldValue {
                    name: name.to_string(),
                    template,
                    pos,
                });
            }
        }
        for spec in specs.iter().filter(|f| f.required) {
            if !given.contains(&spec.name) {
                self.error(
                    key_pos,
                    format!(
                        "{kind}: missing required field `{}` ({})",
                        spec.name,
                        spec.kind.describe()
                    ),
                );
            }
        }
        out
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        match node.as_scalar().map(|s| parse_duration(s.as_str())) {
            Some(Ok(d)) => Some(d),
            Some(Err(message)) => {
                self.error(pos_of(node), format!("`{what}`: {message}"));
                None
            }
            None => {
                self.error(
                    pos_of(node),
                    format!("`{what}` must be a duration such as `30s` or `5m`"),
                );
                None
            }
        }
    }

    fn retry(&mut self, node: &Node) -> Option<RetryPolicy> {
        let Node::Mapping(map) = node else {
            self.error(
                pos_of(node),
                "`retry` must be a mapping: { attempts: 3, backoff: 5s, max_delay: 5m }",
            );
            return None;
        };
        self.unknown_keys(map, &["attempts", "backoff", "max_delay"], "retry");
        let mut policy = RetryPolicy::default();
        if let Some(n) = map.get_node("attempts") {
            match n.as_scalar().and_then(|s| s.as_str().parse::<u32>().ok()) {
                Some(a) if (1..=100).contains(&a) => policy.attempts = a,
                _ => self.error(
                    pos_of(n),
                    "`retry.attempts` must be a whole number from 1 to 100",
                ),
            }
        }
        if let Some(n) = map.get_node("backoff") {
            policy.backoff = self.duration(n, "retry.backoff").unwrap_or(policy.backoff);
        }
        if let Some(n) = map.get_node("max_delay") {
            policy.max_delay = self
                .duration(n, "retry.max_delay")
                .unwrap_or(policy.max_delay);
        }
        Some(policy)
    }

    fn unique_ids(&mut self, steps: &[StepDef]) {
        // Each id's first step, by hash: linear in the number of steps.
        let mut first_of = std::collections::HashMap::new();
        for step in steps {
            let first = *first_of.entry(step.id.as_str()).or_insert(step);
            if !std::ptr::eq(first, step) {
                self.error(
                    step.pos,
                    format!(
                        "duplicate step id `{}` (first used at line {})",
                        step.id, first.pos.line
                    ),
                );
            }
        }
    }
}

/// ` (did you mean `x`?)` when a known word is close to `word`.
pub(crate) fn suggest<'a>(word: &str, known: impl Iterator<Item = &'a str>) -> String {
    // Past this length no name is a typo of another, and the distance costs
    // the product of the lengths.
    const LONGEST: usize = 64;
    if word.len() > LONGEST {
        return String::new();
    }
    known
        .filter(|k| k.len() <= LONGEST && k.len().abs_diff(word.len()) <= 2.max(k.len() / 4))
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
