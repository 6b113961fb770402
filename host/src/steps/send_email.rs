//! `send_email`: mail to directory users, addresses, or a CEL list of
//! either, over SMTP (or into the outbox when no `[smtp]` is configured).
//! A user without an email, or an address that is not one, fails the step.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError, target};
use crate::notify::{Email, valid_address};

pub struct SendEmail;

impl Step for SendEmail {
    fn kind(&self) -> &'static str {
        "send_email"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("to", FieldKind::Recipients),
            Field::optional("title", FieldKind::Text),
            Field::required("subject", FieldKind::Text),
            Field::required("message", FieldKind::Text),
        ];
        FIELDS
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let to = recipients(cx, &input["to"])?;
        let text = target::text(input, "message")?.to_string();
        let email = Email {
            from_name: input
                .get("title")
                .map(|_| target::text(input, "title"))
                .transpose()?
                .map(str::to_string),
            to,
            subject: target::text(input, "subject")?.to_string(),
            html: html_of(&text),
            text,
        };
        if cx.dry_run {
            return Ok(Outcome::Done(json!({
                "dry_run": "would send this email",
                "to": email.to,
                "title": email.from_name,
                "subject": email.subject,
                "message": email.text,
            })));
        }
        let sent = cx.notify.send_email(&email, &cx.idempotency_key())?;
        Ok(Outcome::Done(json!(sent)))
    }
}

/// Every recipient's address: `subject`, user ids (their directory email)
/// and addresses, from one value or a list.
fn recipients(cx: &StepCx, value: &Json) -> Result<Vec<String>, StepError> {
    let items: Vec<&Json> = match value {
        Json::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() {
        return Err(StepError::fatal("`to` names no recipient"));
    }
    let mut out = Vec::new();
    for item in items {
        let Some(text) = item.as_str() else {
            return Err(StepError::fatal(format!(
                "`to`: {item} is neither a user id nor an email address"
            )));
        };
        let address = if text.contains('@') {
            text.to_string()
        } else {
            let user = target::user_ref(cx, item, "to")?;
            user.email.ok_or_else(|| {
                StepError::fatal(format!("`to`: user `{}` has no email address", user.id))
            })?
        };
        if !valid_address(&address) {
            return Err(StepError::fatal(format!(
                "`to`: `{address}` is not a valid email address"
            )));
        }
        if !out.contains(&address) {
            out.push(address);
        }
    }
    Ok(out)
}

/// An HTML alternative: the message itself when it is HTML, its rendering
/// when it uses Markdown, none for plain text.
fn html_of(message: &str) -> Option<String> {
    let trimmed = message.trim_start();
    if trimmed.starts_with('<') && trimmed.contains('>') {
        return Some(message.to_string());
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(message));
    let plain = html.replace("<p>", "").replace("</p>", "");
    plain.contains('<').then_some(html)
}

#[cfg(test)]
mod tests {
    use super::html_of;

    #[test]
    fn html_only_for_markdown_or_html() {
        assert_eq!(html_of("Ada left. Please check her laptop."), None);
        assert_eq!(
            html_of("Ada **left**.").as_deref(),
            Some("<p>Ada <strong>left</strong>.</p>\n")
        );
        assert_eq!(html_of("<b>hi</b>").as_deref(), Some("<b>hi</b>"));
    }
}
