//! Parsing an automation file into an [`Automation`], checking its shape.

use std::path::Path;

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;
use sha2::{Digest, Sha256};

use super::breaker::Breaker;
use super::yaml::{self, kind_of, pos_of, pos_of_scalar, to_json};
use super::{Automation, Diagnostic, Pos, TRIGGERS, Trigger};
use crate::expr::{Expr, Template};
use crate::suggest::suggest;

mod steps;

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
            // Test cases, read by `keystep test` (`testing::file`).
            "tests",
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
    /// Compiles a value holding `{{ }}` expressions; an expression that
    /// does not compile is reported where in the value it is, naming `what`.
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
                self.error(at, format!("{what}: {}", e.error.message));
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
                self.error(pos, format!("`{what}`: {}", e.message));
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
}
