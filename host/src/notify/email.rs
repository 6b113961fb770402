//! Email over SMTP with lettre's async transport (STARTTLS, implicit TLS or
//! none; a custom CA; AUTH), or into the outbox as an `.eml` file.

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Notifier, NotifyError, Smtp, Tls, outbox};

/// A message to send. Addresses are checked by the caller.
pub struct Email {
    /// The sender's display name (the step's `title`).
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    /// An HTML alternative, when the message is Markdown or HTML.
    pub html: Option<String>,
}

/// What was sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentEmail {
    pub message_id: String,
    pub recipients: Vec<String>,
    /// `smtp` or `outbox`.
    pub via: &'static str,
    /// The outbox file, when it went there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// Whether `address` is an email address lettre accepts.
pub fn valid_address(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok()
}

impl Notifier {
    /// Sends `email`. `key` (the step's idempotency key) makes the
    /// Message-ID, so a replay after a crash carries the same one.
    pub fn send_email(&self, email: &Email, key: &str) -> Result<SentEmail, NotifyError> {
        let message_id = format!(
            "<{}@keystep>",
            key.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                "."
            )
        );
        let from = match &self.settings.smtp {
            Some(smtp) => smtp.from.clone(),
            None => "keystep@localhost".to_string(),
        };
        let message = build(email, &from, &message_id)?;
        let sent = |via, path| SentEmail {
            message_id: message_id.clone(),
            recipients: email.to.clone(),
            via,
            path,
        };
        match &self.settings.smtp {
            None => {
                let path = outbox::write(
                    &self.settings.outbox,
                    "email",
                    key,
                    "eml",
                    &message.formatted(),
                )?;
                Ok(sent("outbox", Some(path)))
            }
            Some(smtp) => {
                deliver(smtp, message)?;
                Ok(sent("smtp", None))
            }
        }
    }
}

fn build(email: &Email, from: &str, message_id: &str) -> Result<Message, NotifyError> {
    let from_address = from
        .parse()
        .map_err(|e| NotifyError::fatal(format!("the sender address `{from}` is invalid: {e}")))?;
    let mut builder = Message::builder()
        .from(Mailbox::new(email.from_name.clone(), from_address))
        .subject(email.subject.clone())
        .message_id(Some(message_id.to_string()));
    for to in &email.to {
        let address = to
            .parse()
            .map_err(|e| NotifyError::fatal(format!("`{to}` is not an email address: {e}")))?;
        builder = builder.to(Mailbox::new(None, address));
    }
    let built = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(email.text.clone())),
    };
    built.map_err(|e| NotifyError::fatal(format!("cannot build the message: {e}")))
}

/// Sends through the SMTP server, on a small runtime of its own.
fn deliver(smtp: &Smtp, message: Message) -> Result<(), NotifyError> {
    let mut params = TlsParameters::builder(smtp.host.clone());
    if let Some(ca) = &smtp.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| NotifyError::fatal(format!("smtp.ca_file {}: {e}", ca.display())))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| NotifyError::fatal(format!("smtp.ca_file {}: {e}", ca.display())))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build()
        .map_err(|e| NotifyError::fatal(format!("TLS settings for {}: {e}", smtp.host)))?;
    let tls = match smtp.tls {
        Tls::StartTls => SmtpTls::Required(params),
        Tls::Implicit => SmtpTls::Wrapper(params),
        Tls::None => SmtpTls::None,
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some(user) = &smtp.user {
        let password = match &smtp.password {
            Some(source) => source
                .read()
                .map_err(|why| NotifyError::fatal(format!("smtp.password: {why}")))?,
            None => String::new(),
        };
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    let transport = transport.build();
    let server = format!("{}:{}", smtp.host, smtp.port);
    // lettre's own timeout covers the connect only; the whole conversation
    // runs on a thread of its own, and this one stops waiting when the time
    // is up, so a server that stalls cannot hold the run.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keystep-smtp".into())
        .spawn(move || {
            let sent = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(transport.send(message)));
            let _ = done.send(sent);
        })
        .map_err(|e| NotifyError::transient(format!("cannot start the SMTP client: {e}")))?;
    match outcome.recv_timeout(smtp.timeout) {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(e))) => {
            let what = format!("SMTP server {server}: {e}");
            // A refusal (5xx) or a certificate we do not trust will not
            // change by trying again.
            Err(if e.is_permanent() || e.is_tls() {
                NotifyError::fatal(what)
            } else {
                NotifyError::transient(what)
            })
        }
        Ok(Err(e)) => Err(NotifyError::transient(format!(
            "cannot start the SMTP client: {e}"
        ))),
        Err(_) => Err(NotifyError::transient(format!(
            "SMTP server {server}: timed out: no answer within {} ms",
            smtp.timeout.as_millis()
        ))),
    }
}
