//! Which of the spec's cases can apply to keystep, and why the others
//! cannot: keystep's CEL has no protobuf messages, no container, no type
//! checker, and only the standard library (with `optional`).

use super::Test;
use super::values::{MESSAGES, Unsupported};

/// The files of extension libraries keystep does not enable, with the
/// category they count under.
const EXTENSIONS: &[(&str, Unsupported)] = &[
    ("bindings_ext", "extension not enabled: cel.bind"),
    ("block_ext", "extension not enabled: cel.block"),
    ("encoders_ext", "extension not enabled: encoders"),
    ("math_ext", "extension not enabled: math"),
    ("string_ext", "extension not enabled: strings"),
    (
        "macros2",
        "extension not enabled: two-variable comprehensions",
    ),
    ("proto2_ext", "extension not enabled: protobuf extensions"),
];

pub const CHECK_ONLY: Unsupported = "type-check only";

/// Names only the spec's protobuf test messages and enums have.
const MESSAGE_NAMES: &[&str] = &[
    "TestAllTypes",
    "NestedTestAllTypes",
    "NestedMessage",
    "NestedEnum",
    "GlobalEnum",
    "cel.expr.conformance",
];

/// Why `test`, of the file `file`, cannot apply to keystep, if it cannot.
/// Its bindings and expected value may still say so when converted
/// ([`MESSAGES`]), and then [`needs_an_environment`].
pub fn not_applicable(file: &str, test: &Test) -> Option<Unsupported> {
    if let Some((_, why)) = EXTENSIONS.iter().find(|(f, _)| *f == file) {
        return Some(why);
    }
    if test.check_only {
        return Some(CHECK_ONLY);
    }
    if test.disable_macros {
        return Some("macros disabled");
    }
    if test
        .type_env
        .iter()
        .any(|decl| decl.get("function").is_some())
    {
        return Some("functions the test declares");
    }
    uses_messages(&test.expr)
}

/// Whether `test` needs what keystep's environment does not set: a
/// container, a locale. Asked after its values are converted, so that a
/// message among them is what counts.
pub fn needs_an_environment(test: &Test) -> Option<Unsupported> {
    if !test.container.is_empty() {
        return Some("a container (names resolved in a package)");
    }
    if !test.locale.is_empty() {
        return Some("a locale");
    }
    None
}

/// Whether `expr` builds a message (`Name{...}`) or names a test message or
/// enum, outside its string literals.
fn uses_messages(expr: &str) -> Option<Unsupported> {
    let code = blank_strings(expr);
    if let Some(name) = constructed(&code) {
        return Some(if name.starts_with("google.protobuf.") {
            "google.protobuf messages constructed"
        } else {
            MESSAGES
        });
    }
    MESSAGE_NAMES
        .iter()
        .any(|name| code.contains(name))
        .then_some(MESSAGES)
}

/// The name before the first `{` that opens a message, not a map: `{`
/// after a name (`TestAllTypes{`), where a map's follows an operator,
/// bracket, comma or `in`.
fn constructed(code: &str) -> Option<&str> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    code.match_indices('{').find_map(|(at, _)| {
        let before = code[..at].trim_end();
        let start = before.rfind(|c: char| !is_name(c)).map_or(0, |i| i + 1);
        let name = &before[start..];
        let starts_like_a_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '.');
        (starts_like_a_name && name != "in").then_some(name)
    })
}

/// `expr` with the text of its string and bytes literals blanked, so that
/// a `{` or a name inside one does not count. Quotes are `'`, `"` and
/// their triple forms; a raw string (`r'...'`) has no escapes.
fn blank_strings(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\'' && c != '"' {
            out.push(c);
            i += 1;
            continue;
        }
        let raw = i > 0 && matches!(chars[i - 1], 'r' | 'R');
        let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
        let quote: Vec<char> = if triple { vec![c; 3] } else { vec![c] };
        i += quote.len();
        while i < chars.len() && !chars[i..].starts_with(&quote) {
            i += if chars[i] == '\\' && !raw { 2 } else { 1 };
        }
        i += quote.len();
        out.push_str("''");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_messages_from_maps() {
        assert_eq!(
            uses_messages("TestAllTypes{single_int32: 1}"),
            Some(MESSAGES)
        );
        assert_eq!(
            uses_messages("google.protobuf.Int32Value{value: 1}"),
            Some("google.protobuf messages constructed")
        );
        for map in [
            "7 in {}",
            "{'a': 1}.a",
            "[{}, x ? {} : {1: 2}]",
            "'TestAllTypes{' + \"x{\"",
            "'''a'b{'''.size()",
            r"r'\' + 'a{'",
        ] {
            assert_eq!(uses_messages(map), None, "{map}");
        }
    }
}
