//! Reading typed fields out of a [`Node`] mapping, each error at the place
//! it is about.

use super::tree::{Key, Located, Node, Pos, Result, Value};

/// A string from the file and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    pub pos: Pos,
    pub value: String,
}

impl Str {
    /// Refuses a blank id, and the keywords steps give a meaning to.
    pub fn id(self, what: &str) -> Result<Str> {
        if self.value.trim().is_empty() {
            return Err(Located::new(
                self.pos,
                format!("{} id cannot be blank", a(what)),
            ));
        }
        if matches!(self.value.as_str(), "subject" | "all") {
            return Err(Located::new(
                self.pos,
                format!(
                    "`{}` is a keyword in automations and cannot be {} id",
                    self.value,
                    a(what)
                ),
            ));
        }
        Ok(self)
    }

    /// Refuses `:`, which joins an app id and a slug into an entitlement id.
    pub fn without_colon(self, what: &str) -> Result<Str> {
        if self.value.contains(':') {
            return Err(Located::new(
                self.pos,
                format!(
                    "{what} `{}` contains `:`, which separates an app from a slug in entitlement ids",
                    self.value
                ),
            ));
        }
        Ok(self)
    }
}

/// A mapping whose keys are all known.
pub struct Record<'n> {
    pub pos: Pos,
    what: &'static str,
    entries: &'n [(Key, Node)],
}

impl<'n> Record<'n> {
    pub fn new(node: &'n Node, what: &'static str, allowed: &[&str]) -> Result<Record<'n>> {
        let Value::Map(entries) = &node.value else {
            return Err(Located::new(
                node.pos,
                format!("expected {} (a mapping), found {}", a(what), node.kind()),
            ));
        };
        if let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| !allowed.contains(&k.name.as_str()))
        {
            return Err(Located::new(
                key.pos,
                format!(
                    "unknown field `{}` in {}; expected one of: {}",
                    key.name,
                    a(what),
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Record {
            pos: node.pos,
            what,
            entries,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// A string field that may be absent, or `null` to clear it.
    pub fn patch(&self, key: &str) -> Result<Option<Option<Str>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Node {
                value: Value::Null, ..
            }) => Ok(Some(None)),
            Some(node) => Ok(Some(Some(self.string_of(key, node)?))),
        }
    }

    /// A string field that may be absent.
    pub fn string(&self, key: &str) -> Result<Option<Str>> {
        self.get(key).map(|n| self.string_of(key, n)).transpose()
    }

    pub fn required(&self, key: &str) -> Result<Str> {
        self.string(key)?
            .ok_or_else(|| Located::new(self.pos, format!("{} needs `{key}`", a(self.what))))
    }

    /// A list field that may be absent.
    pub fn list(&self, key: &str) -> Result<Option<&'n [Node]>> {
        match self.get(key) {
            None => Ok(None),
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => Ok(Some(items)),
            Some(node) => Err(Located::new(
                node.pos,
                format!("`{key}` must be a list, found {}", node.kind()),
            )),
        }
    }

    /// A list of strings that may be absent.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<Str>>> {
        self.list(key)?
            .map(|items| items.iter().map(|n| self.string_of(key, n)).collect())
            .transpose()
    }

    fn string_of(&self, key: &str, node: &Node) -> Result<Str> {
        match &node.value {
            Value::Str(s) => Ok(Str {
                pos: node.pos,
                value: s.clone(),
            }),
            _ => Err(Located::new(
                node.pos,
                format!(
                    "`{key}` in {} must be a string, found {} (quote it)",
                    a(self.what),
                    node.kind()
                ),
            )),
        }
    }
}

/// `a user`, `an account`.
fn a(what: &str) -> String {
    let article = if what.starts_with(['a', 'e', 'i', 'o']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {what}")
}

/// Refuses a second item with the same key.
pub fn unique(what: &str, items: impl IntoIterator<Item = (String, Pos)>) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for (key, pos) in items {
        if let Some(first) = seen.insert(key.clone(), pos) {
            return Err(Located::new(
                pos,
                format!(
                    "duplicate {what} `{key}` (first given at line {})",
                    first.line
                ),
            ));
        }
    }
    Ok(())
}
