//! YAML with positions: a thin layer over `marked_yaml` that gives every node
//! its line and column and turns scalars into typed JSON.

use marked_yaml::{LoaderOptions, Node};
use serde_json::Value as Json;
use yaml_rust2::parser::{Event, Parser};

use super::Pos;

/// How deep mappings and lists may nest in an automation file. Deeper is
/// refused before the tree is built: building, converting and dropping it
/// recurse once per level.
pub const MAX_DEPTH: usize = 64;

/// Loads a YAML document whose top level is a mapping. The text holds one
/// document, no NUL byte, and nests at most [`MAX_DEPTH`] deep.
pub fn load(text: &str) -> Result<Node, (Pos, String)> {
    use marked_yaml::LoadError::*;
    frame(text)?;
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| match e {
        TopLevelMustBeMapping(m) => (
            marker_pos(&m),
            "expected a mapping at the top level (name:, trigger:, steps:)".into(),
        ),
        TopLevelMustBeSequence(m) => (
            marker_pos(&m),
            "expected a sequence at the top level".into(),
        ),
        UnexpectedAnchor(m) => (
            marker_pos(&m),
            "YAML anchors and aliases are not supported".into(),
        ),
        MappingKeyMustBeScalar(m) => (
            marker_pos(&m),
            "a mapping key must be a plain string".into(),
        ),
        UnexpectedTag(m) => (
            marker_pos(&m),
            "YAML tags (`!tag`) are not supported".into(),
        ),
        ScanError(m, err) => (marker_pos(&m), format!("invalid YAML: {}", err.info())),
        DuplicateKey(inner) => (
            pos_of_scalar(&inner.key),
            format!(
                "duplicate key `{}` (first defined at line {})",
                inner.key.as_str(),
                pos_of_scalar(&inner.prev_key).line
            ),
        ),
    })
}

/// Checks what the tree builder would get wrong or die of, in one pass over
/// the parser's events: a NUL byte (the scanner takes it for the end of the
/// text), a second document (it would be ignored), nesting past
/// [`MAX_DEPTH`]. Syntax errors are left to the loader, which reports them.
fn frame(text: &str) -> Result<(), (Pos, String)> {
    if let Some(at) = text.find('\0') {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let pos = Pos {
            line: text[..at].matches('\n').count() + 1,
            column: text[line_start..at].chars().count() + 1,
        };
        return Err((
            pos,
            "the file holds a NUL byte; an automation file is text".into(),
        ));
    }
    let mut parser = Parser::new_from_str(text);
    let (mut depth, mut documents) = (0usize, 0usize);
    while let Ok((event, mark)) = parser.next_token() {
        let pos = Pos {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match event {
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err((
                        pos,
                        "a second YAML document starts here; an automation file holds one (remove the `---` or split the file)".into(),
                    ));
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err((
                        pos,
                        format!("mappings and lists nest more than {MAX_DEPTH} levels deep here"),
                    ));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => break,
            _ => {}
        }
    }
    Ok(())
}

fn marker_pos(m: &marked_yaml::Marker) -> Pos {
    Pos {
        line: m.line(),
        column: m.column(),
    }
}

fn span_pos(span: &marked_yaml::Span) -> Pos {
    span.start()
        .map(marker_pos)
        .unwrap_or(Pos { line: 1, column: 1 })
}

pub fn pos_of(node: &Node) -> Pos {
    let start = span_pos(node.span());
    // A block mapping's span starts at its first `:`; point at its first key.
    match node {
        Node::Mapping(map) => map
            .keys()
            .next()
            .map(pos_of_scalar)
            .filter(|key| (key.line, key.column) < (start.line, start.column))
            .unwrap_or(start),
        _ => start,
    }
}

pub fn pos_of_scalar(node: &marked_yaml::types::MarkedScalarNode) -> Pos {
    span_pos(node.span())
}

/// A human word for what a node is, for "expected X, found Y" messages.
pub fn kind_of(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a scalar",
        Node::Sequence(_) => "a list",
        Node::Mapping(_) => "a mapping",
    }
}

/// Converts a node to JSON. Unquoted scalars take YAML's core types (bool,
/// null, integer, float); quoted ones stay strings.
pub fn to_json(node: &Node) -> Json {
    match node {
        Node::Scalar(s) => scalar_to_json(s),
        Node::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Node::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

fn scalar_to_json(s: &marked_yaml::types::MarkedScalarNode) -> Json {
    let text = s.as_str();
    if !s.may_coerce() {
        return Json::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Json::Null,
        "true" | "True" | "TRUE" => return Json::Bool(true),
        "false" | "False" | "FALSE" => return Json::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Json::from(i);
    }
    if text.contains(['.', 'e', 'E'])
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return Json::from(f);
    }
    Json::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_types() {
        let node = load("a: 1\nb:\n  - 'x'\n  - true\n").unwrap();
        let map = node.as_mapping().unwrap();
        let b = map.get_node("b").unwrap();
        assert_eq!(pos_of(b), Pos { line: 3, column: 3 });
        assert_eq!(
            to_json(&node),
            serde_json::json!({"a": 1, "b": ["x", true]})
        );
    }

    #[test]
    fn one_document_of_text_nested_within_the_limit() {
        let (pos, msg) = load("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(
            (pos, msg.contains("second YAML document")),
            (Pos { line: 2, column: 1 }, true)
        );
        let (pos, msg) = load("a: 1\nb: x\0y\n").unwrap_err();
        assert_eq!(
            (pos, msg.contains("NUL")),
            (Pos { line: 2, column: 5 }, true)
        );
        let deep = (0..5000)
            .map(|i| format!("{}-\n", "  ".repeat(i)))
            .collect::<String>();
        let (pos, msg) = load(&format!("a:\n{deep}")).unwrap_err();
        assert!(msg.contains("64 levels"), "{msg}");
        assert_eq!(pos.line, 65);
        assert!(load(&format!("a: {}{}\n", "[".repeat(63), "]".repeat(63))).is_ok());
        assert!(load(&format!("a: {}{}\n", "[".repeat(64), "]".repeat(64))).is_err());
        // A document start marker before the only document is fine.
        assert!(load("---\na: 1\n...\n").is_ok());
    }

    #[test]
    fn syntax_error_has_position() {
        let (pos, msg) = load("a: [1, 2\nb: 3\n").unwrap_err();
        // The `:` of `b: 3`, inside the unclosed flow sequence.
        assert_eq!(pos, Pos { line: 2, column: 2 });
        assert!(msg.starts_with("invalid YAML: "), "{msg}");
    }
}
