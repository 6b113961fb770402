//! YAML into a [`Node`] tree, from `yaml-rust2`'s events, with the core
//! schema's scalar types. Tags, anchors, aliases, a second document, `.nan`
//! and `.inf` are refused.
//!
//! Nothing here recurses: the parser is a state machine and the tree is
//! built on an explicit stack, refused past [`MAX_DEPTH`]. The scanner walks
//! its open flow collections (`[`, `{`) on every token, but stops at 255 of
//! them, so even 100,000 `[` cost linear time (libyaml, under `serde_yaml`,
//! took 52 s).

use std::sync::LazyLock;

use regex::Regex;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use super::tree::{
    Key, Located, MAX_DEPTH, MapBuilder, Node, Pos, Result, Value, check_string, number,
};

/// Reads one YAML document.
pub fn parse(text: &str) -> Result<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0;
    let mut root = None;
    loop {
        let (event, mark) = parser.next_token().map_err(scan_error)?;
        let pos = pos(&mark);
        let node = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(Located::new(
                        pos,
                        "a directory file holds one YAML document",
                    ));
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(Located::new(pos, "YAML aliases are not supported"));
            }
            Event::Scalar(text, style, anchor, tag) => {
                plain_yaml(pos, anchor, tag.is_some())?;
                check_string(pos, &text)?;
                let value = if style == TScalarStyle::Plain {
                    typed(pos, &text)?
                } else {
                    Value::Str(text)
                };
                Node { pos, value }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                plain_yaml(pos, anchor, tag.is_some())?;
                if stack.len() >= MAX_DEPTH {
                    return Err(Located::new(
                        pos,
                        format!("nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(pos, Vec::new())
                } else {
                    Frame::Map(pos, MapBuilder::default(), None)
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(pos, items)) => Node {
                    pos,
                    value: Value::Seq(items),
                },
                Some(Frame::Map(pos, map, _)) => Node {
                    pos,
                    value: map.finish(),
                },
                None => continue,
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(frame) => frame.add(node)?,
        }
    }
    Ok(root.unwrap_or(Node {
        pos: Pos { line: 1, column: 1 },
        value: Value::Null,
    }))
}

/// A collection being read.
enum Frame {
    Seq(Pos, Vec<Node>),
    /// A mapping, and the key waiting for its value.
    Map(Pos, MapBuilder, Option<Key>),
}

impl Frame {
    fn add(&mut self, node: Node) -> Result<()> {
        match self {
            Frame::Seq(_, items) => items.push(node),
            Frame::Map(_, map, pending) => match pending.take() {
                Some(key) => map.insert(key, node)?,
                None => *pending = Some(key_of(node)?),
            },
        }
        Ok(())
    }
}

fn key_of(node: Node) -> Result<Key> {
    let name = match node.value {
        Value::Str(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => {
            return Err(Located::new(
                node.pos,
                "a mapping key must be a plain string",
            ));
        }
    };
    Ok(Key {
        pos: node.pos,
        name,
    })
}

fn plain_yaml(pos: Pos, anchor: usize, tagged: bool) -> Result<()> {
    if tagged {
        return Err(Located::new(pos, "YAML tags (`!tag`) are not supported"));
    }
    if anchor != 0 {
        return Err(Located::new(
            pos,
            "YAML anchors (`&name`) are not supported",
        ));
    }
    Ok(())
}

fn scan_error(e: ScanError) -> Located {
    let message = match e.info() {
        // The scanner's own cap on open flow collections.
        "recursion limit exceeded" => format!("nested deeper than {MAX_DEPTH} levels"),
        info => format!("invalid YAML: {info}"),
    };
    Located::new(pos(e.marker()), message)
}

fn pos(mark: &Marker) -> Pos {
    Pos {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

/// The core schema's reading of a plain scalar.
fn typed(pos: Pos, text: &str) -> Result<Value> {
    static INT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[-+]?[0-9]+$").unwrap());
    static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").unwrap()
    });
    static SPECIAL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$").unwrap());
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ if SPECIAL.is_match(text) => {
            return Err(Located::new(
                pos,
                format!("`{text}` is not a number JSON can hold; quote it for a string"),
            ));
        }
        _ if INT.is_match(text) || FLOAT.is_match(text) => Value::Number(number(pos, text)?),
        _ => Value::Str(text.to_string()),
    })
}
