//! Keeping secret values out of everything a plugin says.
//!
//! Every secret granted to a plugin is read once per call, whether or not
//! the plugin asks for it in this call (a value read earlier may have been
//! kept in `/scratch`), and one multi-pattern pass (Aho-Corasick, linear in
//! the text) replaces each occurrence with `[secret]` in: log lines, the
//! error code and message, the description of a trap (with its stderr),
//! and output. Output is scrubbed as parsed JSON, every string and every
//! key, so `\u` escapes cannot hide a value.
//!
//! Not covered: a value the plugin transforms (base64, hex, split across
//! strings, reversed, ...), or a secret changed in its source after an
//! earlier call read it. Scrubbing keeps careless and naive leaks out of
//! logs and run history; a plugin granted a secret can always send it to a
//! host it is granted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value as Json;

use super::bindings::api;
use crate::secret::SecretSource;

/// What a secret is replaced with.
pub const MARK: &str = "[secret]";

/// The values of a call's granted secrets, each read once.
pub struct Secrets {
    values: BTreeMap<String, Result<String, String>>,
    scrubber: Scrubber,
}

impl Secrets {
    /// Reads every secret in `granted`; one that cannot be read is kept as
    /// the reason, for `secret()` to answer.
    pub fn read(granted: &BTreeMap<String, SecretSource>) -> Result<Secrets, String> {
        let values: BTreeMap<_, _> = granted
            .iter()
            .map(|(name, source)| (name.clone(), source.read()))
            .collect();
        let scrubber = Scrubber::new(values.values().filter_map(|v| v.as_deref().ok()))?;
        Ok(Secrets { values, scrubber })
    }

    /// The value of `name`: `None` when not granted, else the value or why
    /// it could not be read.
    pub fn get(&self, name: &str) -> Option<Result<&str, &str>> {
        self.values
            .get(name)
            .map(|v| v.as_deref().map_err(String::as_str))
    }

    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }
}

/// Replaces known secret values with [`MARK`].
pub struct Scrubber {
    matcher: Option<AhoCorasick>,
}

impl Scrubber {
    /// A scrubber for `values` (empty ones are ignored).
    pub fn new<'a>(values: impl Iterator<Item = &'a str>) -> Result<Scrubber, String> {
        let values: Vec<&str> = values.filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Ok(Scrubber { matcher: None });
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&values)
            .map_err(|e| format!("cannot prepare to scrub its secrets: {e}"))?;
        Ok(Scrubber {
            matcher: Some(matcher),
        })
    }

    /// `text` with every secret value replaced.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let mut scrubbed = String::with_capacity(text.len());
                m.replace_all_with(text, &mut scrubbed, |_, _, out| {
                    out.push_str(MARK);
                    true
                });
                Cow::Owned(scrubbed)
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// Scrubs every string and key of `value`; whether anything changed.
    pub fn json(&self, value: &mut Json) -> bool {
        if self.matcher.is_none() {
            return false;
        }
        match value {
            Json::String(s) => self.in_place(s),
            Json::Array(items) => items
                .iter_mut()
                .fold(false, |changed, item| self.json(item) | changed),
            Json::Object(map) => {
                let mut changed = false;
                let entries = std::mem::take(map);
                for (mut key, mut item) in entries {
                    changed |= self.in_place(&mut key);
                    changed |= self.json(&mut item);
                    map.insert(key, item);
                }
                changed
            }
            _ => false,
        }
    }

    /// JSON text as a plugin returned it, scrubbed as parsed JSON (and
    /// written again only when something changed). Text that is not JSON,
    /// or longer than `limit` (to be refused unread), is scrubbed as text.
    pub fn json_text(&self, text: String, limit: usize) -> String {
        if self.matcher.is_none() || text.len() > limit {
            return text;
        }
        match serde_json::from_str::<Json>(&text) {
            Ok(mut value) => {
                if self.json(&mut value) {
                    value.to_string()
                } else {
                    text
                }
            }
            Err(_) => self.text(&text).into_owned(),
        }
    }

    /// `text`, scrubbed, reusing it when there is nothing to replace.
    fn owned(&self, mut text: String) -> String {
        self.in_place(&mut text);
        text
    }

    fn in_place(&self, s: &mut String) -> bool {
        match self.text(s) {
            Cow::Owned(scrubbed) => {
                *s = scrubbed;
                true
            }
            Cow::Borrowed(_) => false,
        }
    }
}

/// A call's result, with every string the plugin wrote scrubbed; JSON as
/// parsed JSON, up to `limit` bytes (the output limit).
pub trait Scrub {
    fn scrub(self, scrubber: &Scrubber, limit: usize) -> Self;
}

/// The JSON text of a function's result, a grant, revoke or action.
impl Scrub for String {
    fn scrub(self, scrubber: &Scrubber, limit: usize) -> String {
        scrubber.json_text(self, limit)
    }
}

impl Scrub for api::Account {
    fn scrub(self, s: &Scrubber, limit: usize) -> api::Account {
        api::Account {
            id: s.owned(self.id),
            login: s.owned(self.login),
            profile: s.json_text(self.profile, limit),
            already_existed: self.already_existed,
        }
    }
}

impl Scrub for api::Page {
    fn scrub(self, s: &Scrubber, limit: usize) -> api::Page {
        api::Page {
            items: self
                .items
                .into_iter()
                .map(|item| s.json_text(item, limit))
                .collect(),
            next_cursor: self.next_cursor.map(|c| s.owned(c)),
        }
    }
}

impl Scrub for api::ConnectorInfo {
    fn scrub(self, s: &Scrubber, limit: usize) -> api::ConnectorInfo {
        api::ConnectorInfo {
            name: s.owned(self.name),
            version: s.owned(self.version),
            description: s.owned(self.description),
            capabilities: self.capabilities,
            actions: self
                .actions
                .into_iter()
                .map(|a| api::ActionSchema {
                    name: s.owned(a.name),
                    description: s.owned(a.description),
                    arguments: s.json_text(a.arguments, limit),
                })
                .collect(),
            account_schema: self.account_schema.map(|j| s.json_text(j, limit)),
        }
    }
}

/// A plugin's error code, scrubbed and checked to be a short `[a-z0-9-]`
/// word; anything else becomes `plugin-error` (and is not shown).
pub fn error_code(scrubber: &Scrubber, code: &str) -> (String, bool) {
    let code = scrubber.text(code);
    let ok = (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        (code.into_owned(), true)
    } else {
        ("plugin-error".to_string(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_value_is_replaced_in_one_pass() {
        let s = Scrubber::new(["tok-123", "tok-123456", "pw"].into_iter()).unwrap();
        assert_eq!(
            s.text("a tok-123456 b tok-123 pwpw"),
            "a [secret] b [secret] [secret][secret]"
        );
        assert!(matches!(s.text("nothing here"), Cow::Borrowed(_)));
        assert_eq!(Scrubber::new([""].into_iter()).unwrap().text("x"), "x");
    }

    #[test]
    fn json_is_scrubbed_after_parsing_keys_too() {
        let s = Scrubber::new(["tok-123"].into_iter()).unwrap();
        let escaped = r#"{"a": "\u0074ok-123", "tok-123": ["x tok-123"], "n": 1}"#;
        let out: Json = serde_json::from_str(&s.json_text(escaped.into(), 1 << 20)).unwrap();
        assert_eq!(
            out,
            json!({"a": "[secret]", "[secret]": ["x [secret]"], "n": 1})
        );
        let clean = r#"{"a":   1}"#;
        assert_eq!(
            s.json_text(clean.into(), 1 << 20),
            clean,
            "unchanged text is kept"
        );
        assert_eq!(
            s.json_text("not json tok-123".into(), 1 << 20),
            "not json [secret]"
        );
    }

    #[test]
    fn error_codes_are_short_words() {
        let s = Scrubber::new(["tok-123"].into_iter()).unwrap();
        assert_eq!(error_code(&s, "not-found"), ("not-found".into(), true));
        for bad in ["tok-123", "Bad", "a b", "x\x1b[2J", "", &"a".repeat(33)] {
            assert_eq!(
                error_code(&s, bad),
                ("plugin-error".into(), false),
                "{bad:?}"
            );
        }
    }
}
