//! Limits on an expression, checked before the CEL parser and the evaluator
//! recurse. The parser recurses once per level of brackets (`(`, `[`, `{`)
//! and `? :`, with large frames; the evaluator and dropping a syntax tree
//! once per level of the tree (`a + b + c` is two deep); deep enough, they
//! overflow the stack and abort the process. A long source also costs the
//! parser memory by the byte. So:
//!
//! - [`check`], one linear pass over the source before it is parsed, refuses
//!   more than [`MAX_LENGTH`] bytes and brackets nested deeper than
//!   [`MAX_NESTING`], with the column where the limit was crossed. It
//!   tokenizes as CEL's lexer does (strings, bytes, raw strings, comments,
//!   numbers, identifiers), so brackets inside a string do not count and
//!   none outside one can hide inside what only looks like a string here; a
//!   string it cannot read whole is refused.
//! - [`check_tree`] refuses a parsed tree deeper than [`MAX_TREE_DEPTH`],
//!   before it is evaluated.

use cel::common::ast::{EntryExpr, Expr as Ast, IdedExpr};

use super::CompileError;

/// The longest expression accepted, in bytes.
pub const MAX_LENGTH: usize = 4096;

/// How deep brackets (`(`, `[`, `{`) and conditionals (`a ? b : c`) may
/// nest in an expression's source.
pub const MAX_NESTING: usize = 32;

/// How deep a parsed expression's tree may be. Each operator, call, field
/// access and bracket on the way to the innermost part is one level:
/// `ctx.a.b + f(x[0] * 2)` is 4 deep. The budget's instrumentation at most
/// doubles it, so evaluating recurses at most 128 levels (about 4 MB of
/// stack in a debug build, a fraction of that optimised).
pub const MAX_TREE_DEPTH: usize = 64;

/// Checks `source` against [`MAX_LENGTH`] and [`MAX_NESTING`].
pub fn check(source: &str) -> Result<(), CompileError> {
    if source.len() > MAX_LENGTH {
        return Err(CompileError {
            column: 1,
            message: format!(
                "the expression is {} bytes long; the limit is {MAX_LENGTH}",
                source.len()
            ),
        });
    }
    Scan::new(source).run()
}

/// One open bracket (or the whole expression): the conditionals (`?`) met
/// in it since its start or its last comma.
struct Frame {
    conditionals: usize,
}

struct Scan<'a> {
    text: &'a [u8],
    at: usize,
    frames: Vec<Frame>,
}

impl<'a> Scan<'a> {
    fn new(source: &'a str) -> Scan<'a> {
        Scan {
            text: source.as_bytes(),
            at: 0,
            frames: vec![Frame { conditionals: 0 }],
        }
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.text.get(self.at + ahead).copied().unwrap_or(0)
    }

    fn run(mut self) -> Result<(), CompileError> {
        while self.at < self.text.len() {
            let start = self.at;
            let c = self.peek(0);
            match c {
                b'(' | b'[' | b'{' => {
                    self.frames.push(Frame { conditionals: 0 });
                    self.at += 1;
                }
                b')' | b']' | b'}' => {
                    if self.frames.len() > 1 {
                        self.frames.pop();
                    }
                    self.at += 1;
                }
                b',' => {
                    self.top().conditionals = 0;
                    self.at += 1;
                }
                b'?' => {
                    self.top().conditionals += 1;
                    self.at += 1;
                }
                b'/' if self.peek(1) == b'/' => {
                    while self.at < self.text.len() && self.peek(0) != b'\n' {
                        self.at += 1;
                    }
                }
                b'"' | b'\'' => self.string(false)?,
                b'0'..=b'9' => self.number(),
                b'.' if self.peek(1).is_ascii_digit() => self.number(),
                c if c.is_ascii_alphabetic() || c == b'_' => self.word()?,
                _ => self.at += 1,
            }
            if self.nesting() > MAX_NESTING {
                return Err(CompileError {
                    column: column_of(self.text, start),
                    message: format!(
                        "brackets and conditionals nest more than {MAX_NESTING} levels deep here"
                    ),
                });
            }
        }
        Ok(())
    }

    fn top(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the root frame stays")
    }

    fn nesting(&self) -> usize {
        self.frames.len() - 1 + self.frames.iter().map(|f| f.conditionals).sum::<usize>()
    }

    /// An identifier or keyword, or the prefix of a string (`r"…"`, `b'…'`,
    /// `br"""…"""`).
    fn word(&mut self) -> Result<(), CompileError> {
        let lower = |i: usize| self.peek(i).to_ascii_lowercase();
        let quote = |i: usize| matches!(self.peek(i), b'"' | b'\'');
        match (lower(0), lower(1)) {
            (b'r', _) if quote(1) => {
                self.at += 1;
                return self.string(true);
            }
            (b'b', _) if quote(1) => {
                self.at += 1;
                return self.string(false);
            }
            (b'b', b'r') if quote(2) => {
                self.at += 2;
                return self.string(true);
            }
            _ => {}
        }
        while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' {
            self.at += 1;
        }
        Ok(())
    }

    /// A number: decimal, hexadecimal (`0x1F`), float (`1.5e3`, `.5`),
    /// with an optional `u`. Only its length matters.
    fn number(&mut self) {
        let digits = |s: &mut Self| {
            while s.peek(0).is_ascii_digit() {
                s.at += 1;
            }
        };
        if self.peek(0) == b'0' && self.peek(1) == b'x' && self.peek(2).is_ascii_hexdigit() {
            self.at += 2;
            while self.peek(0).is_ascii_hexdigit() {
                self.at += 1;
            }
        } else {
            digits(self);
            if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
                self.at += 1;
                digits(self);
            }
            let sign = usize::from(matches!(self.peek(1), b'+' | b'-'));
            if matches!(self.peek(0), b'e' | b'E') && self.peek(1 + sign).is_ascii_digit() {
                self.at += 1 + sign;
                digits(self);
            }
        }
        if matches!(self.peek(0), b'u' | b'U') {
            self.at += 1;
        }
    }

    /// A string whose opening quote is at `self.at`: single or triple
    /// quoted, raw or with escapes, as CEL's lexer reads it.
    fn string(&mut self, raw: bool) -> Result<(), CompileError> {
        let start = self.at;
        let q = self.peek(0);
        let triple = self.peek(1) == q && self.peek(2) == q;
        self.at += if triple { 3 } else { 1 };
        loop {
            let c = self.peek(0);
            if self.at >= self.text.len() || (!triple && matches!(c, b'\n' | b'\r')) {
                return Err(CompileError {
                    column: column_of(self.text, start),
                    message: "this string is never closed".into(),
                });
            }
            if c == q && (!triple || (self.peek(1) == q && self.peek(2) == q)) {
                self.at += if triple { 3 } else { 1 };
                return Ok(());
            }
            if c == b'\\' && !raw {
                self.escape()?;
            } else {
                self.at += 1;
            }
        }
    }

    /// An escape sequence inside a string: `\n`, `\"`, `\x41`, `\u00e9`,
    /// `\101`, …
    fn escape(&mut self) -> Result<(), CompileError> {
        let hex = |s: &Self, from: usize, n: usize| {
            (from..from + n).all(|i| s.peek(i).is_ascii_hexdigit())
        };
        let octal = |c: u8| (b'0'..=b'7').contains(&c);
        let length = match self.peek(1) {
            b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'"' | b'\'' | b'\\' | b'?' | b'`' => {
                Some(2)
            }
            b'x' | b'X' if hex(self, 2, 2) => Some(4),
            b'u' if hex(self, 2, 4) => Some(6),
            b'U' if hex(self, 2, 8) => Some(10),
            b'0'..=b'3' if octal(self.peek(2)) && octal(self.peek(3)) => Some(4),
            _ => None,
        };
        match length {
            Some(n) => {
                self.at += n;
                Ok(())
            }
            None => Err(CompileError {
                column: column_of(self.text, self.at),
                message:
                    "invalid escape sequence in a string (`\\n`, `\\\"`, `\\x41`, `\\u00e9`, …)"
                        .into(),
            }),
        }
    }
}

/// Checks that `tree`, parsed from `source`, is at most [`MAX_TREE_DEPTH`]
/// deep; the error points at the first node past the limit. It walks with a
/// stack of its own, so any depth is safe to check.
pub fn check_tree(
    tree: &IdedExpr,
    source: &cel::common::ast::SourceInfo,
) -> Result<(), CompileError> {
    let mut todo = vec![(tree, 1usize)];
    while let Some((node, depth)) = todo.pop() {
        if depth > MAX_TREE_DEPTH {
            let at = source
                .offset_for(node.id)
                .map_or(0, |(start, _)| start as usize);
            return Err(CompileError {
                column: at + 1,
                message: format!(
                    "the expression is more than {MAX_TREE_DEPTH} operations deep here (a chain like `a + b + …` counts one per operator); split it up"
                ),
            });
        }
        todo.extend(children(node).into_iter().map(|c| (c, depth + 1)));
    }
    Ok(())
}

/// The direct parts of an expression.
pub(super) fn children(node: &IdedExpr) -> Vec<&IdedExpr> {
    match &node.expr {
        Ast::Call(call) => call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect(),
        Ast::Select(select) => vec![&select.operand],
        Ast::List(list) => list.elements.iter().collect(),
        Ast::Map(map) => map
            .entries
            .iter()
            .flat_map(|e| match &e.expr {
                EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
                EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect(),
        Ast::Struct(s) => s
            .entries
            .iter()
            .filter_map(|e| match &e.expr {
                EntryExpr::StructField(f) => Some(&f.value),
                EntryExpr::MapEntry(_) => None,
            })
            .collect(),
        Ast::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Ast::Ident(_) | Ast::Literal(_) | Ast::Unspecified => Vec::new(),
    }
}

/// The 1-based column, in characters, of byte `at`.
fn column_of(text: &[u8], at: usize) -> usize {
    let before = &text[..at.min(text.len())];
    String::from_utf8_lossy(before).chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(source: &str) -> Option<usize> {
        check(source).err().map(|e| e.column)
    }

    #[test]
    fn ordinary_expressions_pass() {
        for ok in [
            "ctx.trigger.new_user.status == 'disabled' && ctx.a.n > 1",
            "ctx.revoke.revoked.map(g, g.entitlement).filter(e, e.startsWith('aws:'))",
            r#"ctx.x.matches("^((((((a))))))+$") && r'\d(((' != b"\x41\101\u00e9""#,
            "'''a \"\"\" (((( ''' + \"\"\"x\n((((\"\"\"",
            "1.5e3 + 0x1Fu + .5 // a comment ((((((((((((((((((((((((((((((((((((((((((((((((((",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_where_it_crosses_the_limit() {
        let parens = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(depth_error(&parens), Some(MAX_NESTING + 1));
        let lists = "[".repeat(200);
        assert_eq!(depth_error(&lists), Some(MAX_NESTING + 1));
        let conditionals = "true ? ".repeat(40) + "1" + &" : 2".repeat(40);
        assert_eq!(depth_error(&conditionals), Some(7 * MAX_NESTING + 6));
        // Siblings do not add up: each argument starts afresh.
        let wide = format!("f({})", vec!["[a ? b : c]"; 100].join(", "));
        assert_eq!(check(&wide), Ok(()));
    }

    #[test]
    fn brackets_cannot_hide_in_what_only_looks_like_a_string() {
        // `\"` ends no string; a raw string has no escapes; `br` is a prefix.
        let deep = "(".repeat(MAX_NESTING + 1);
        for hidden in [
            format!(r#""\"" {deep}"#),
            format!(r#"r"\" {deep}"#),
            format!(r#"br'\' {deep}"#),
            format!("0xbr'' {deep}"),
            format!("'a\n{deep}'"),
        ] {
            assert!(check(&hidden).is_err(), "{hidden}");
        }
    }

    #[test]
    fn length_is_limited() {
        let long = format!("'{}'", "a".repeat(MAX_LENGTH));
        assert!(check(&long).unwrap_err().message.contains("4096"));
    }
}
