//! A directory file as a tree of typed values, each with its line and
//! column, read from YAML or JSON. Both readers refuse nesting deeper than
//! [`MAX_DEPTH`] before they recurse, and scalars that JSON cannot carry
//! (`.nan`, `.inf`, numbers out of range, NUL characters).

use serde_json::{Number, Value as Json};

/// How deep collections may nest in a directory file. The deepest a real
/// file needs is a user's `attributes` (depth 4) plus whatever structure
/// they hold.
pub const MAX_DEPTH: usize = 64;

/// A place in the file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Something wrong at a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub pos: Pos,
    pub message: String,
}

impl Located {
    pub fn new(pos: Pos, message: impl Into<String>) -> Located {
        Located {
            pos,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Located>;

/// One value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in file order; a key appears once.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Node {
    /// What the value is, for "expected X, found Y".
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The value as JSON (for free-form fields such as `attributes`).
    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::Str(s) => Json::String(s.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Refuses a NUL character in a string that came from an escape.
pub fn check_string(pos: Pos, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Located::new(pos, "NUL characters are not allowed"));
    }
    Ok(())
}

/// A mapping being read: keys in file order, each once.
#[derive(Default)]
pub struct MapBuilder {
    entries: Vec<(Key, Node)>,
    seen: std::collections::HashMap<String, usize>,
}

impl MapBuilder {
    /// Adds `key: value`, refusing a key given twice.
    pub fn insert(&mut self, key: Key, value: Node) -> Result<()> {
        if let Some(&line) = self.seen.get(&key.name) {
            return Err(Located::new(
                key.pos,
                format!("duplicate key `{}` (first given at line {line})", key.name),
            ));
        }
        self.seen.insert(key.name.clone(), key.pos.line);
        self.entries.push((key, value));
        Ok(())
    }

    pub fn finish(self) -> Value {
        Value::Map(self.entries)
    }
}

/// A number from its text, refusing what JSON cannot hold.
pub fn number(pos: Pos, text: &str) -> Result<Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(u.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| Located::new(pos, format!("number `{text}` is out of range")))
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}
