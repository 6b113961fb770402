//! Parsing an automation's steps: each step's id, type, fields, `if`,
//! `retry`, `timeout` and `on_error`, and the ids' uniqueness.

use std::time::Duration;

use marked_yaml::Node;

use super::super::fields::parse_duration;
use super::super::spec::{self, StepSpec};
use super::super::yaml::{kind_of, pos_of, pos_of_scalar};
use super::super::{FieldValue, OnError, Pos, RetryPolicy, StepDef};
use super::{Parser, STEP_COMMON_KEYS};
use crate::suggest::suggest;

impl Parser<'_> {
    pub(super) fn step(&mut self, node: &Node) -> Option<StepDef> {
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

    pub(super) fn unique_ids(&mut self, steps: &[StepDef]) {
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
