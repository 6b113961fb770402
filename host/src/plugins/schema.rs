//! Checks JSON values against the JSON Schemas connectors declare for
//! their actions and accounts.
//!
//! The subset keystep checks: `type` (a name or a list), `enum`, `const`,
//! `properties`, `required`, `additionalProperties: false`, `minLength`,
//! `maxLength`, `pattern`, `minimum`, `maximum`, `items`, `minItems`,
//! `maxItems`, `minProperties`, `maxProperties`, and the boolean schemas. Annotations (`title`,
//! `description`, `default`, `format`, `$schema`, ...) are allowed and
//! ignored. A schema is compiled once (kept by its text), each `pattern`
//! with a size limit; a schema that is not JSON, uses a keyword outside the
//! subset or has a bad value fails closed: every value is refused, with the
//! reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;

/// The most memory one compiled `pattern` may take.
const PATTERN_BYTES: usize = 1 << 20;
/// The most compiled schemas kept; past it the cache starts again.
const CACHED: usize = 1024;

/// Keywords that say nothing about validity.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "readOnly",
    "writeOnly",
    "deprecated",
];

/// Every way `value` breaks `schema`, each as `path: what is wrong`.
pub fn violations(schema: &Json, value: &Json) -> Vec<String> {
    match &*compiled(schema) {
        Ok(schema) => schema.violations(value),
        Err(why) => vec![format!(
            "the schema itself is unusable, so nothing fits it: {why}"
        )],
    }
}

/// A schema compiled, or why it could not be.
type Compiled = Arc<Result<Schema, String>>;

/// `schema` compiled, from the cache when it was compiled before.
fn compiled(schema: &Json) -> Compiled {
    static CACHE: LazyLock<Mutex<HashMap<String, Compiled>>> = LazyLock::new(Mutex::default);
    let key = schema.to_string();
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = cache.get(&key) {
        return found.clone();
    }
    if cache.len() >= CACHED {
        cache.clear();
    }
    let made = Arc::new(Schema::compile(schema));
    cache.insert(key, made.clone());
    made
}

/// A compiled schema.
#[derive(Debug)]
pub enum Schema {
    /// `true` or `{}`.
    Any,
    /// `false`.
    Nothing,
    Rules(Box<Rules>),
}

#[derive(Debug, Default)]
pub struct Rules {
    types: Option<Vec<String>>,
    options: Option<Vec<Json>>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<Regex>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    items: Option<Schema>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    properties: BTreeMap<String, Schema>,
    required: Vec<String>,
    closed: bool,
}

const TYPES: &[&str] = &[
    "null", "boolean", "integer", "number", "string", "array", "object",
];

impl Schema {
    /// Compiles `schema`; the error names where it is wrong (`$.properties.x`).
    pub fn compile(schema: &Json) -> Result<Schema, String> {
        compile_at(schema, "$")
    }

    /// Every way `value` breaks the schema, each as `path: what is wrong`.
    pub fn violations(&self, value: &Json) -> Vec<String> {
        let mut found = Vec::new();
        self.check(value, "$", &mut found);
        found
    }

    fn check(&self, value: &Json, path: &str, found: &mut Vec<String>) {
        match self {
            Schema::Any => {}
            Schema::Nothing => found.push(format!("{path}: no value is allowed here")),
            Schema::Rules(rules) => rules.check(value, path, found),
        }
    }
}

fn compile_at(schema: &Json, at: &str) -> Result<Schema, String> {
    let map = match schema {
        Json::Bool(true) => return Ok(Schema::Any),
        Json::Bool(false) => return Ok(Schema::Nothing),
        Json::Object(map) => map,
        Json::Null => return Err(format!("{at}: not JSON, or null")),
        other => {
            return Err(format!(
                "{at}: a schema is an object or a boolean, not {other}"
            ));
        }
    };
    let mut rules = Rules::default();
    for (key, v) in map {
        let here = format!("{at}.{key}");
        let count = || v.as_u64().ok_or(format!("{here}: expected a count"));
        let number = || v.as_f64().ok_or(format!("{here}: expected a number"));
        match key.as_str() {
            "type" => rules.types = Some(types(v, &here)?),
            "enum" => {
                rules.options = Some(
                    v.as_array()
                        .ok_or(format!("{here}: expected a list"))?
                        .clone(),
                )
            }
            "const" => rules.options = Some(vec![v.clone()]),
            "minLength" => rules.min_length = Some(count()?),
            "maxLength" => rules.max_length = Some(count()?),
            "minItems" => rules.min_items = Some(count()?),
            "maxItems" => rules.max_items = Some(count()?),
            "minProperties" => rules.min_properties = Some(count()?),
            "maxProperties" => rules.max_properties = Some(count()?),
            "minimum" => rules.minimum = Some(number()?),
            "maximum" => rules.maximum = Some(number()?),
            "pattern" => rules.pattern = Some(pattern(v, &here)?),
            "items" => rules.items = Some(compile_at(v, &here)?),
            "properties" => {
                let props = v.as_object().ok_or(format!("{here}: expected an object"))?;
                for (name, sub) in props {
                    let sub = compile_at(sub, &format!("{here}.{name}"))?;
                    rules.properties.insert(name.clone(), sub);
                }
            }
            "required" => {
                let names = v
                    .as_array()
                    .ok_or(format!("{here}: expected a list of names"))?;
                for name in names {
                    let name = name
                        .as_str()
                        .ok_or(format!("{here}: expected a list of names"))?;
                    rules.required.push(name.to_string());
                }
            }
            "additionalProperties" => match v {
                Json::Bool(allowed) => rules.closed = !allowed,
                Json::Object(m) if m.is_empty() => {}
                _ => return Err(format!("{here}: only `false` or `true` is checked")),
            },
            k if ANNOTATIONS.contains(&k) => {}
            k => return Err(format!("{at}: `{k}` is not a keyword keystep checks")),
        }
    }
    Ok(Schema::Rules(Box::new(rules)))
}

fn types(v: &Json, here: &str) -> Result<Vec<String>, String> {
    let names: Vec<&Json> = match v {
        Json::Array(names) => names.iter().collect(),
        one => vec![one],
    };
    names
        .into_iter()
        .map(|n| match n.as_str() {
            Some(t) if TYPES.contains(&t) => Ok(t.to_string()),
            _ => Err(format!("{here}: {n} is not a type ({})", TYPES.join(", "))),
        })
        .collect()
}

fn pattern(v: &Json, here: &str) -> Result<Regex, String> {
    let text = v.as_str().ok_or(format!("{here}: expected a string"))?;
    RegexBuilder::new(text)
        .size_limit(PATTERN_BYTES)
        .dfa_size_limit(PATTERN_BYTES)
        .build()
        .map_err(|e| format!("{here}: /{text}/ is not a usable pattern: {e}"))
}

fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

impl Rules {
    fn check(&self, value: &Json, path: &str, found: &mut Vec<String>) {
        if let Some(expected) = &self.types {
            let actual = type_name(value);
            let fits = |t: &String| t == actual || (t == "number" && actual == "integer");
            if !expected.iter().any(fits) {
                found.push(format!(
                    "{path}: expected {}, found {actual}",
                    expected.join(" or ")
                ));
                return;
            }
        }
        if let Some(options) = &self.options
            && !options.contains(value)
        {
            let shown: Vec<String> = options.iter().map(ToString::to_string).collect();
            found.push(format!("{path}: must be one of {}", shown.join(", ")));
        }
        match value {
            Json::String(s) => self.check_string(s, path, found),
            Json::Number(n) => {
                let n = n.as_f64().unwrap_or_default();
                if let Some(min) = self.minimum.filter(|min| n < *min) {
                    found.push(format!("{path}: less than {min}"));
                }
                if let Some(max) = self.maximum.filter(|max| n > *max) {
                    found.push(format!("{path}: more than {max}"));
                }
            }
            Json::Array(items) => self.check_items(items, path, found),
            Json::Object(fields) => self.check_fields(fields, path, found),
            _ => {}
        }
    }

    fn check_string(&self, s: &str, path: &str, found: &mut Vec<String>) {
        let length = s.chars().count() as u64;
        if let Some(min) = self.min_length.filter(|min| length < *min) {
            found.push(format!("{path}: shorter than {min} characters"));
        }
        if let Some(max) = self.max_length.filter(|max| length > *max) {
            found.push(format!("{path}: longer than {max} characters"));
        }
        if let Some(re) = &self.pattern
            && !re.is_match(s)
        {
            found.push(format!("{path}: `{s}` does not match /{}/", re.as_str()));
        }
    }

    fn check_items(&self, items: &[Json], path: &str, found: &mut Vec<String>) {
        let count = items.len() as u64;
        if let Some(min) = self.min_items.filter(|min| count < *min) {
            found.push(format!("{path}: fewer than {min} items"));
        }
        if let Some(max) = self.max_items.filter(|max| count > *max) {
            found.push(format!("{path}: more than {max} items"));
        }
        if let Some(item) = &self.items {
            for (i, value) in items.iter().enumerate() {
                item.check(value, &format!("{path}[{i}]"), found);
            }
        }
    }

    fn check_fields(
        &self,
        fields: &serde_json::Map<String, Json>,
        path: &str,
        found: &mut Vec<String>,
    ) {
        let count = fields.len() as u64;
        if let Some(min) = self.min_properties.filter(|min| count < *min) {
            found.push(format!("{path}: fewer than {min} properties"));
        }
        if let Some(max) = self.max_properties.filter(|max| count > *max) {
            found.push(format!("{path}: more than {max} properties"));
        }
        for required in &self.required {
            if !fields.contains_key(required) {
                found.push(format!("{path}: `{required}` is required"));
            }
        }
        for (key, field) in fields {
            match self.properties.get(key) {
                Some(sub) => sub.check(field, &format!("{path}.{key}"), found),
                None if self.closed => {
                    let known: Vec<&str> = self.properties.keys().map(String::as_str).collect();
                    found.push(format!(
                        "{path}: unknown field `{key}` (known: {})",
                        known.join(", ")
                    ));
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_an_objects_properties() {
        let schema = json!({"type": "object", "minProperties": 1, "maxProperties": 2});
        assert!(violations(&schema, &json!({"a": 1})).is_empty());
        assert_eq!(
            violations(&schema, &json!({})),
            ["$: fewer than 1 properties"]
        );
        assert_eq!(
            violations(&schema, &json!({"a": 1, "b": 2, "c": 3})),
            ["$: more than 2 properties"]
        );
    }

    #[test]
    fn finds_each_violation() {
        let schema = json!({
            "type": "object",
            "properties": {
                "login": {"type": "string", "pattern": "^[a-z]+$"},
                "age": {"type": "integer", "minimum": 18},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}
            },
            "required": ["login"],
            "additionalProperties": false
        });
        assert!(violations(&schema, &json!({"login": "ada", "age": 36})).is_empty());
        assert_eq!(
            violations(
                &schema,
                &json!({"login": "Ada", "age": 3, "x": 1, "tags": ["a", "c", "b"]})
            ),
            vec![
                "$.age: less than 18",
                "$.login: `Ada` does not match /^[a-z]+$/",
                "$.tags: more than 2 items",
                "$.tags[1]: must be one of \"a\", \"b\"",
                "$: unknown field `x` (known: age, login, tags)",
            ]
        );
        assert_eq!(
            violations(&schema, &json!({})),
            vec!["$: `login` is required"]
        );
        assert_eq!(
            violations(&schema, &json!([])),
            vec!["$: expected object, found array"]
        );
        assert_eq!(
            violations(&json!({"type": ["string", "null"]}), &json!(1)),
            vec!["$: expected string or null, found integer"]
        );
        assert!(violations(&json!(true), &json!(1)).is_empty());
    }

    #[test]
    fn a_schema_that_cannot_be_used_refuses_everything() {
        for (schema, why) in [
            (Json::Null, "$: not JSON, or null"),
            (
                json!({"properties": {"x": {"oneOf": []}}}),
                "$.properties.x: `oneOf` is not a keyword",
            ),
            (
                json!({"properties": {"x": {"pattern": "("}}}),
                "$.properties.x.pattern: /(/ is not a usable pattern",
            ),
            (json!({"type": "text"}), "$.type: \"text\" is not a type"),
            (json!({"minLength": -1}), "$.minLength: expected a count"),
        ] {
            let found = violations(&schema, &json!({"x": "anything"}));
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains(why), "{found:?} should contain {why:?}");
        }
    }

    #[test]
    fn a_pattern_too_large_to_compile_is_refused() {
        // Each `\w{100}` is a large automaton; the size limit refuses it
        // instead of building it.
        let huge = r"\w{100}".repeat(50);
        let found = violations(&json!({"pattern": huge}), &json!("x"));
        assert!(found[0].contains("is not a usable pattern"), "{found:?}");
    }

    #[test]
    fn a_schema_is_compiled_once() {
        let schema = json!({"items": {"pattern": "^[a-z]+$"}});
        let first = compiled(&schema);
        assert!(Arc::ptr_eq(&first, &compiled(&schema)));
    }
}
