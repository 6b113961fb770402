//! A small JSON reader that keeps every value's line and column, refuses
//! duplicate keys, and stops at [`MAX_DEPTH`] before it recurses further.
//! Strings are decoded by `serde_json`.

use std::sync::LazyLock;

use regex::Regex;

use super::tree::{
    Key, Located, MAX_DEPTH, MapBuilder, Node, Pos, Result, Value, check_string, number,
};

/// JSON's number syntax.
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$").unwrap());

/// Reads one JSON document.
pub fn parse(text: &str) -> Result<Node> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        text,
        at: 0,
        line: 1,
        counted: 0,
        column: 1,
    };
    let node = p.value(0)?;
    p.space();
    if p.at < p.bytes.len() {
        return Err(p.error("expected the end of the file after the top-level value"));
    }
    Ok(node)
}

struct Parser<'t> {
    bytes: &'t [u8],
    text: &'t str,
    at: usize,
    line: usize,
    /// `column` is the column at byte `counted` (kept so that finding a
    /// position never rescans the line).
    counted: usize,
    column: usize,
}

impl Parser<'_> {
    fn pos(&mut self) -> Pos {
        self.column += self.text[self.counted..self.at].chars().count();
        self.counted = self.at;
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn error(&mut self, message: &str) -> Located {
        Located::new(self.pos(), message)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.at += 1;
                    self.line += 1;
                    self.counted = self.at;
                    self.column = 1;
                }
                b' ' | b'\t' | b'\r' => self.at += 1,
                _ => break,
            }
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<()> {
        self.space();
        if self.peek() != Some(b) {
            return Err(self.error(&format!("expected {what}")));
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Node> {
        self.space();
        let pos = self.pos();
        let value = match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => {
                return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
            }
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::Str(self.string()?),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                let lexeme = &self.text[start..self.at];
                if !NUMBER.is_match(lexeme) {
                    return Err(Located::new(pos, format!("invalid number `{lexeme}`")));
                }
                Value::Number(number(pos, lexeme)?)
            }
            _ => self.word()?,
        };
        Ok(Node { pos, value })
    }

    fn word(&mut self) -> Result<Value> {
        for (word, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if self.bytes[self.at..].starts_with(word.as_bytes()) {
                self.at += word.len();
                return Ok(value);
            }
        }
        Err(self.error("expected a value (object, array, string, number, true, false or null)"))
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        self.at += 1;
        let mut map = MapBuilder::default();
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(map.finish());
        }
        loop {
            self.space();
            let pos = self.pos();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key in double quotes"));
            }
            let name = self.string()?;
            self.expect(b':', "`:` after the key")?;
            let value = self.value(depth + 1)?;
            map.insert(Key { pos, name }, value)?;
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(map.finish());
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        self.at += 1;
        let mut items = Vec::new();
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Seq(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Seq(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// A string token, decoded by `serde_json` (escapes, surrogate pairs).
    fn string(&mut self) -> Result<String> {
        let pos = self.pos();
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(Located::new(pos, "unterminated string")),
                Some(b'\\') => self.at += 2,
                Some(b'"') => break,
                Some(_) => self.at += 1,
            }
        }
        self.at += 1;
        let s: String = serde_json::from_str(&self.text[start..self.at.min(self.bytes.len())])
            .map_err(|e| Located::new(pos, format!("invalid string: {e}")))?;
        check_string(pos, &s)?;
        Ok(s)
    }
}
