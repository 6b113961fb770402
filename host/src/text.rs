//! Text from plugins and users made safe to print for people: control
//! characters (newlines, ESC, BEL, ...) and the Unicode controls that
//! reorder a line are shown as escapes, so a value can neither forge a line
//! of output nor drive the terminal. JSON output needs none of this: serde
//! escapes control characters itself.

use std::borrow::Cow;

/// `text` with every control character written as an escape: `\n`, `\r`,
/// `\t`, else `\u{1b}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_but(text, None)
}

/// Like [`escape`], but keeps line breaks: for messages of several lines
/// that keystep composed itself (their parts from outside are escaped).
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_but(text, Some('\n'))
}

/// Like [`escape_lines`], for text from outside that may span lines (a
/// plugin's error with its traceback): each line after the first starts
/// with `indent`, so that none can pass for a line of keystep's own or
/// another plugin's.
pub fn escape_indented(text: &str, indent: &str) -> String {
    escape_lines(text).replace('\n', &format!("\n{indent}"))
}

fn escape_but(text: &str, keep: Option<char>) -> Cow<'_, str> {
    let unsafe_char = |c: char| Some(c) != keep && is_unsafe(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&c.escape_unicode().to_string()),
        }
    }
    Cow::Owned(out)
}

/// C0 and C1 controls, DEL, and the bidirectional overrides and isolates.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape("ok\n[plugin tracker] error: forged\x1b[2J\x07"),
            "ok\\n[plugin tracker] error: forged\\u{1b}[2J\\u{7}"
        );
        assert_eq!(
            escape("tab\there\r\u{202e}x\u{85}"),
            "tab\\there\\r\\u{202e}x\\u{85}"
        );
        assert!(matches!(escape("plain é ✓ text"), Cow::Borrowed(_)));
        assert_eq!(escape_lines("a\nb\x1b"), "a\nb\\u{1b}");
        assert_eq!(
            escape_indented("Traceback:\n  File x\n[plugin y] forged\x1b", "    "),
            "Traceback:\n      File x\n    [plugin y] forged\\u{1b}"
        );
        assert_eq!(
            escape(&escape("\x1b")),
            "\\u{1b}",
            "escaping twice changes nothing"
        );
    }
}
