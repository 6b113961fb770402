//! What each step type accepts: its YAML key, its fields and the shape
//! checks beyond each field's own kind. Parsing and validation read only
//! these specs; how a step runs is the step's own (`steps::Step`), which
//! points back at its spec here.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::fields::{Field, FieldKind, MAX_DURATION};
use super::{Pos, StepDef};
use crate::directory::{TASK_KINDS, USER_STATUSES};
use crate::plugins::Credential;

/// One step type's schema.
#[derive(Debug)]
pub struct StepSpec {
    /// The key that names this step in an automation file.
    pub kind: &'static str,
    /// The fields it accepts.
    pub fields: &'static [Field],
    /// Shape checks beyond each field's own kind (one of two fields, a
    /// field's structure). Runs when an automation is parsed.
    pub check: fn(&StepDef) -> Vec<(Pos, String)>,
}

/// Every step type, in the order `unknown step type` lists them.
pub fn specs() -> &'static [&'static StepSpec] {
    static SPECS: &[&StepSpec] = &[
        &WAIT,
        &CREATE_CAMPAIGN,
        &REVOKE_ENTITLEMENTS,
        &GRANT_ENTITLEMENTS,
        &MODIFY_DELEGATE,
        &REMOVE_ACCESS_PROFILES,
        &MODIFY_USER_STATUS,
        &RUN_AUTOMATION,
        &PERFORM_TASK_ACTION,
        &CALL_FUNCTION,
        &PERFORM_CONNECTOR_ACTION,
        &CREATE_ACCOUNT,
        &SEND_EMAIL,
        &SEND_SLACK_MESSAGE,
        &RUN_WEBHOOK,
    ];
    SPECS
}

/// The step type named `kind` in a file.
pub fn spec(kind: &str) -> Option<&'static StepSpec> {
    specs().iter().copied().find(|s| s.kind == kind)
}

/// A spec with no checks beyond its fields.
const fn plain(kind: &'static str, fields: &'static [Field]) -> StepSpec {
    StepSpec {
        kind,
        fields,
        check: no_check,
    }
}

fn no_check(_: &StepDef) -> Vec<(Pos, String)> {
    Vec::new()
}

pub static WAIT: StepSpec = StepSpec {
    kind: "wait",
    fields: &[
        Field::optional("duration", FieldKind::Duration),
        Field::optional("until", FieldKind::Timestamp),
    ],
    check: check_wait,
};

pub static CREATE_CAMPAIGN: StepSpec = plain(
    "create_campaign",
    &[
        Field::required("template", FieldKind::ReviewTemplate),
        Field::required("user", FieldKind::Users),
        Field::optional("name", FieldKind::Text),
    ],
);

pub static REVOKE_ENTITLEMENTS: StepSpec = plain(
    "revoke_entitlements",
    &[
        Field::required("user", FieldKind::User),
        Field::required("entitlements", FieldKind::Entitlements),
        Field::optional("exclude", FieldKind::Entitlements),
    ],
);

pub static GRANT_ENTITLEMENTS: StepSpec = plain(
    "grant_entitlements",
    &[
        Field::required("user", FieldKind::User),
        Field::required("entitlements", FieldKind::Entitlements),
    ],
);

pub static MODIFY_DELEGATE: StepSpec = plain(
    "modify_delegate",
    &[
        Field::required("user", FieldKind::User),
        Field::optional("replacement", FieldKind::User),
    ],
);

pub static REMOVE_ACCESS_PROFILES: StepSpec = plain(
    "remove_access_profiles",
    &[
        Field::required("user", FieldKind::User),
        Field::required("profiles", FieldKind::Profiles),
    ],
);

pub static MODIFY_USER_STATUS: StepSpec = plain(
    "modify_user_status",
    &[
        Field::required("user", FieldKind::User),
        Field::required("status", FieldKind::Choice(USER_STATUSES)),
    ],
);

pub static RUN_AUTOMATION: StepSpec = plain(
    "run_automation",
    &[
        Field::required("automation", FieldKind::Automation),
        Field::optional("context", FieldKind::Json),
        Field::optional("wait", FieldKind::Bool),
    ],
);

pub static PERFORM_TASK_ACTION: StepSpec = StepSpec {
    kind: "perform_task_action",
    fields: &[
        Field::required("user", FieldKind::User),
        Field::optional("relation", FieldKind::Choice(&["assignee", "subject"])),
        Field::required("task_types", FieldKind::Choices(TASK_KINDS)),
        Field::required("action", FieldKind::Json),
    ],
    check: check_task_action,
};

pub static CALL_FUNCTION: StepSpec = plain(
    "call_function",
    &[
        Field::required("function", FieldKind::Function),
        Field::optional("input", FieldKind::Json),
    ],
);

pub static PERFORM_CONNECTOR_ACTION: StepSpec = plain(
    "perform_connector_action",
    &[
        Field::required("connector", FieldKind::Connector),
        Field::required("action", FieldKind::Text),
        Field::optional("args", FieldKind::Json),
        Field::optional("user", FieldKind::User),
    ],
);

pub static CREATE_ACCOUNT: StepSpec = plain(
    "create_account",
    &[
        Field::required("connector", FieldKind::Connector),
        Field::required("method", FieldKind::Choice(&["custom", "from_user"])),
        Field::optional("user", FieldKind::User),
        Field::optional("fields", FieldKind::Json),
        Field::optional("credential", FieldKind::Choice(Credential::NAMES)),
    ],
);

pub static SEND_EMAIL: StepSpec = plain(
    "send_email",
    &[
        Field::required("to", FieldKind::Recipients),
        Field::optional("title", FieldKind::Text),
        Field::required("subject", FieldKind::Text),
        Field::required("message", FieldKind::Text),
    ],
);

pub static SEND_SLACK_MESSAGE: StepSpec = StepSpec {
    kind: "send_slack_message",
    fields: &[
        Field::optional("channel", FieldKind::Text),
        Field::optional("users", FieldKind::Users),
        Field::required("message", FieldKind::Text),
    ],
    check: check_slack,
};

pub static RUN_WEBHOOK: StepSpec = plain(
    "run_webhook",
    &[
        Field::required("webhook", FieldKind::Text),
        Field::optional("payload", FieldKind::Json),
    ],
);

/// `wait` takes exactly one of `duration` and `until`, and a literal
/// `until` lies within the limit of a wait.
fn check_wait(step: &StepDef) -> Vec<(Pos, String)> {
    match (step.field("duration"), step.field("until")) {
        (Some(_), None) => Vec::new(),
        (None, Some(until)) => until
            .template
            .literal()
            .and_then(Json::as_str)
            // A malformed timestamp is the field's own error already.
            .filter(|t| DateTime::parse_from_rfc3339(t).is_ok())
            .and_then(|t| check_until(t, Utc::now()).err())
            .map(|e| vec![(until.pos, e)])
            .unwrap_or_default(),
        _ => vec![(
            step.pos,
            "give exactly one of `duration` (e.g. 7d) or `until` (a timestamp)".into(),
        )],
    }
}

/// Parses a `wait` step's `until` timestamp, which may lie at most ten
/// years after `now`.
pub fn check_until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let until = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("`until`: `{text}` is not an RFC 3339 timestamp ({e})"))?
        .to_utc();
    let latest = chrono::Duration::from_std(MAX_DURATION)
        .ok()
        .and_then(|d| now.checked_add_signed(d));
    match latest {
        Some(latest) if until <= latest => Ok(until),
        _ => Err(format!(
            "`until`: `{text}` is more than 10 years ahead (the limit of a wait)"
        )),
    }
}

/// What `perform_task_action.action` must be.
pub const ACTION_SHAPE: &str = "`action` must be `complete`, `cancel`, or `{ reassign: USER }`";

fn check_task_action(step: &StepDef) -> Vec<(Pos, String)> {
    let Some(field) = step.field("action") else {
        return Vec::new();
    };
    match field.template.literal() {
        None => Vec::new(),
        Some(Json::String(s)) if s == "complete" || s == "cancel" => Vec::new(),
        Some(Json::Object(m)) if m.len() == 1 && m.get("reassign").is_some_and(Json::is_string) => {
            Vec::new()
        }
        Some(_) => vec![(field.pos, ACTION_SHAPE.into())],
    }
}

fn check_slack(step: &StepDef) -> Vec<(Pos, String)> {
    let has = |name| step.fields.iter().any(|f| f.name == name);
    match (has("channel"), has("users")) {
        (true, false) | (false, true) => Vec::new(),
        _ => vec![(step.pos, "needs `channel` or `users` (one of them)".into())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_found() {
        for (i, s) in specs().iter().enumerate() {
            assert!(
                specs()[..i].iter().all(|o| o.kind != s.kind),
                "{} twice",
                s.kind
            );
            assert!(std::ptr::eq(spec(s.kind).unwrap(), *s));
        }
        assert_eq!(specs().len(), 15);
        assert!(spec("no_such_step").is_none());
    }
}
