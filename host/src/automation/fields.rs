//! Step fields: what each accepts, checked on the literal values of a file
//! before any run starts.

use serde_json::Value as Json;

/// One field a step accepts.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub kind: FieldKind,
}

impl Field {
    pub const fn required(name: &'static str, kind: FieldKind) -> Field {
        Field {
            name,
            required: true,
            kind,
        }
    }

    pub const fn optional(name: &'static str, kind: FieldKind) -> Field {
        Field {
            name,
            required: false,
            kind,
        }
    }
}

/// What a field holds. Any field may instead be one `{{ expression }}`,
/// checked when the step runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    Text,
    /// `subject`, a user id.
    User,
    /// One user reference or a list of them.
    Users,
    /// Users or email addresses, one or a list.
    Recipients,
    /// `all`, a list of entitlement ids (`app:slug`), or a selector
    /// `{ app, resource_type, resource }`.
    Entitlements,
    /// `all` or a list of access profile ids.
    Profiles,
    /// A review template id.
    ReviewTemplate,
    /// An automation name.
    Automation,
    /// A function plugin's name.
    Function,
    /// A connector plugin's name.
    Connector,
    /// A duration such as `30m` or `7d`.
    Duration,
    /// An RFC 3339 timestamp.
    Timestamp,
    Bool,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A list of these words (or one of them).
    Choices(&'static [&'static str]),
    /// Any JSON value.
    Json,
}

/// Keys a selector of entitlements may use.
pub const SELECTOR_KEYS: &[&str] = &["app", "resource_type", "resource"];

impl FieldKind {
    /// Checks a literal value's shape; `Err` says what was expected.
    pub fn check_literal(self, value: &Json) -> Result<(), String> {
        let ok = match self {
            FieldKind::Text => value.is_string() || value.is_number() || value.is_boolean(),
            FieldKind::User
            | FieldKind::ReviewTemplate
            | FieldKind::Automation
            | FieldKind::Function
            | FieldKind::Connector => value.is_string(),
            FieldKind::Users | FieldKind::Recipients => value.is_string() || all_strings(value),
            FieldKind::Entitlements => {
                return match value {
                    Json::String(s) if s == "all" => Ok(()),
                    Json::String(s) if s.contains(':') => Ok(()),
                    Json::Array(_) if all_strings(value) => Ok(()),
                    Json::Object(map) => match map.keys().find(|k| !SELECTOR_KEYS.contains(&k.as_str())) {
                        Some(k) => Err(format!(
                            "unknown selector key `{k}`; expected one of {}",
                            SELECTOR_KEYS.join(", ")
                        )),
                        None if map.is_empty() => Err("an empty selector matches nothing".into()),
                        None => Ok(()),
                    },
                    _ => Err("expected `all`, a list of entitlement ids (`app:slug`), or a selector { app, resource_type, resource }".into()),
                };
            }
            FieldKind::Profiles => value.as_str() == Some("all") || all_strings(value),
            FieldKind::Duration => {
                return match value.as_str() {
                    Some(s) => parse_duration(s).map(|_| ()),
                    None => Err("expected a duration such as `30m`, `12h` or `7d`".into()),
                };
            }
            FieldKind::Timestamp => value
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            FieldKind::Bool => value.is_boolean(),
            FieldKind::Choice(words) => value.as_str().is_some_and(|s| words.contains(&s)),
            FieldKind::Choices(words) => match value {
                Json::String(s) => words.contains(&s.as_str()),
                Json::Array(items) => items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| words.contains(&s))),
                _ => false,
            },
            FieldKind::Json => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("expected {}", self.describe()))
        }
    }

    /// What this kind expects, in words.
    pub fn describe(self) -> String {
        match self {
            FieldKind::Text => "text".into(),
            FieldKind::User => "`subject` or a user id".into(),
            FieldKind::Users => "`subject`, a user id, or a list of them".into(),
            FieldKind::Recipients => {
                "`subject`, a user id, an email address, or a list of them".into()
            }
            FieldKind::Entitlements => "`all`, a list of entitlement ids, or a selector".into(),
            FieldKind::Profiles => "`all` or a list of access profile ids".into(),
            FieldKind::ReviewTemplate => "a review template id".into(),
            FieldKind::Automation => "an automation name".into(),
            FieldKind::Function => "a function plugin's name".into(),
            FieldKind::Connector => "a connector plugin's name".into(),
            FieldKind::Duration => "a duration such as `30m`, `12h` or `7d`".into(),
            FieldKind::Timestamp => "an RFC 3339 timestamp such as 2026-01-31T09:00:00Z".into(),
            FieldKind::Bool => "true or false".into(),
            FieldKind::Choice(words) => format!("one of {}", words.join(", ")),
            FieldKind::Choices(words) => format!("a list of {}", words.join(", ")),
            FieldKind::Json => "any value".into(),
        }
    }
}

fn all_strings(value: &Json) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(Json::is_string))
}

/// The longest duration a wait, timeout or backoff may give: 10 years
/// (`10y`). Longer is a mistake, and soon past what a timestamp holds.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(10 * 31_557_600);

/// Parses `30s`, `15m`, `12h`, `7d`, `1h30m`, `2w`, up to [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); expected e.g. `30m`, `12h` or `7d`")
    })?;
    if d > MAX_DURATION {
        return Err(format!("`{text}` is longer than the limit of 10 years"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entitlement_shapes() {
        let k = FieldKind::Entitlements;
        assert!(k.check_literal(&json!("all")).is_ok());
        assert!(k.check_literal(&json!(["aws:admin"])).is_ok());
        assert!(k.check_literal(&json!({"app": "aws"})).is_ok());
        assert!(
            k.check_literal(&json!({"ap": "aws"}))
                .unwrap_err()
                .contains("`ap`")
        );
        assert!(k.check_literal(&json!(3)).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86400);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("10y").unwrap(), MAX_DURATION);
        assert!(
            parse_duration("500000y")
                .unwrap_err()
                .contains("limit of 10 years")
        );
    }
}
