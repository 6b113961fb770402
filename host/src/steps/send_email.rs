//! `send_email`: mail to directory users, addresses, or a CEL list of
//! either, over SMTP (or into the outbox when no `[smtp]` is configured).
//! A user without an email, or an address that is not one, fails the step.

use serde_json::Value as Json;

use super::{Input, Phases, Plan, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::effects::Effect;
use crate::error::Error;
use crate::expr::{Part, Template};
use crate::notify::{Email, valid_address};

pub struct SendEmail;

impl Step for SendEmail {
    fn spec(&self) -> &'static StepSpec {
        &spec::SEND_EMAIL
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

/// The email to send: recipients resolved, the HTML alternative made.
fn plan(input: &Input, cx: &StepCx<'_>) -> Result<Plan, Error> {
    let to = recipients(cx, &input["to"])?;
    let text = target::text(input, "message")?.to_string();
    let html = html_of(cx, &text)?;
    let email = Email {
        from_name: input
            .get("title")
            .map(|_| target::text(input, "title"))
            .transpose()?
            .map(str::to_string),
        to,
        subject: target::text(input, "subject")?.to_string(),
        html,
        text,
    };
    Ok(Plan::output_of(Effect::Email(email)))
}

/// Every recipient's address: `subject`, user ids (their directory email)
/// and addresses, from one value or a list.
fn recipients(cx: &StepCx, value: &Json) -> Result<Vec<String>, Error> {
    let items: Vec<(Option<usize>, &Json)> = match value {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Some(i), v))
            .collect(),
        other => vec![(None, other)],
    };
    if items.is_empty() {
        return Err(Error::fatal("`to` names no recipient"));
    }
    let mut out = Vec::new();
    for (index, item) in items {
        let Some(text) = item.as_str() else {
            return Err(Error::fatal(format!(
                "`to`: {item} is neither a user id nor an email address"
            )));
        };
        let address = if text.contains('@') {
            text.to_string()
        } else {
            let user = target::user_ref(cx, item, "to", index)?;
            user.email.ok_or_else(|| {
                Error::fatal(format!("`to`: user `{}` has no email address", user.id))
            })?
        };
        if !valid_address(&address) {
            return Err(Error::fatal(format!(
                "`to`: `{address}` is not a valid email address"
            )));
        }
        if !out.contains(&address) {
            out.push(address);
        }
    }
    Ok(out)
}

/// The message's HTML alternative: the author's text as written (HTML when
/// it starts with a tag, else Markdown), with every value an expression put
/// into it escaped, so that data (a display name, an input) cannot add
/// markup, links or scripts. None for plain text.
fn html_of(cx: &StepCx, text: &str) -> Result<Option<String>, Error> {
    let source = match cx.def.field("message").map(|f| &f.template) {
        Some(Template::Text(parts)) => {
            let html = matches!(parts.first(), Some(Part::Text(t)) if is_html(t));
            let mut source = String::new();
            for part in parts {
                match part {
                    Part::Text(t) => source.push_str(t),
                    Part::Expr(e) => {
                        let value = Template::Text(vec![Part::Expr(e.clone())])
                            .render(cx.scope)
                            .map_err(|e| Error::fatal(format!("field `message`: {e}")))?;
                        source.push_str(&escape(value.as_str().unwrap_or_default(), html));
                    }
                }
            }
            source
        }
        // The whole message is one value: all of it is data.
        Some(Template::Whole(_)) => escape(text, false),
        _ => text.to_string(),
    };
    Ok(markup(&source))
}

fn is_html(text: &str) -> bool {
    let trimmed = text.trim_start();
    trimmed.starts_with('<') && trimmed.contains('>')
}

/// `value` as text inside HTML, or inside Markdown (where ASCII punctuation
/// is also backslash-escaped, so it cannot start a link, emphasis, a heading
/// or a list).
fn escape(value: &str, html: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if !html && c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The HTML of `source`: itself when it is HTML, its rendering when it uses
/// Markdown, none when it is plain text.
fn markup(source: &str) -> Option<String> {
    if is_html(source) {
        return Some(source.to_string());
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(source));
    let plain = html.replace("<p>", "").replace("</p>", "");
    plain.contains('<').then_some(html)
}

#[cfg(test)]
mod tests {
    use super::{escape, markup};

    #[test]
    fn html_only_for_markdown_or_html() {
        assert_eq!(markup("Ada left. Please check her laptop."), None);
        assert_eq!(
            markup("Ada **left**.").as_deref(),
            Some("<p>Ada <strong>left</strong>.</p>\n")
        );
        assert_eq!(markup("<b>hi</b>").as_deref(), Some("<b>hi</b>"));
    }

    #[test]
    fn escaped_values_add_no_markup() {
        let value = "<script>x</script> [link](https://evil.example) **b** # h";
        let html = markup(&format!("Hi **{}**", escape(value, false))).unwrap();
        assert!(!html.contains("<script") && !html.contains("<a "), "{html}");
        assert!(
            html.contains("&lt;script&gt;x&lt;/script&gt; [link](https://evil.example) **b** # h"),
            "{html}"
        );
        assert_eq!(
            escape("<a href=\"x\">&'", true),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
