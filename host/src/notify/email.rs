//! Email over SMTP with lettre's async transport (STARTTLS, implicit TLS or
//! none; a custom CA; AUTH), or into the outbox as an `.eml` file.

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Notifier, Smtp, Tls, outbox};
use crate::error::Error;

/// The SMTP client: the server, its TLS settings and the credentials.
pub(super) type Transport = AsyncSmtpTransport<Tokio1Executor>;

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
    pub async fn send_email(&self, email: &Email, key: &str) -> Result<SentEmail, Error> {
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
                let transport = self
                    .smtp
                    .get_or_init(|| transport(smtp))
                    .as_ref()
                    .map_err(Clone::clone)?;
                deliver(smtp, transport, message).await?;
                Ok(sent("smtp", None))
            }
        }
    }
}

fn build(email: &Email, from: &str, message_id: &str) -> Result<Message, Error> {
    let from_address = from
        .parse()
        .map_err(|e| Error::fatal(format!("the sender address `{from}` is invalid: {e}")))?;
    let mut builder = Message::builder()
        .from(Mailbox::new(email.from_name.clone(), from_address))
        .subject(email.subject.clone())
        .message_id(Some(message_id.to_string()));
    for to in &email.to {
        let address = to
            .parse()
            .map_err(|e| Error::fatal(format!("`{to}` is not an email address: {e}")))?;
        builder = builder.to(Mailbox::new(None, address));
    }
    let built = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(email.text.clone())),
    };
    built.map_err(|e| Error::fatal(format!("cannot build the message: {e}")))
}

/// The client for `smtp`, built once: it reads the CA file and the password.
fn transport(smtp: &Smtp) -> Result<Transport, Error> {
    let mut params = TlsParameters::builder(smtp.host.clone());
    if let Some(ca) = &smtp.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| Error::fatal(format!("smtp.ca_file {}: {e}", ca.display())))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| Error::fatal(format!("smtp.ca_file {}: {e}", ca.display())))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build()
        .map_err(|e| Error::fatal(format!("TLS settings for {}: {e}", smtp.host)))?;
    let tls = match smtp.tls {
        Tls::StartTls => SmtpTls::Required(params),
        Tls::Implicit => SmtpTls::Wrapper(params),
        Tls::None => SmtpTls::None,
    };
    let mut transport = Transport::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some(user) = &smtp.user {
        let password = match &smtp.password {
            Some(source) => source
                .read()
                .map_err(|why| Error::fatal(format!("smtp.password: {why}")))?,
            None => String::new(),
        };
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    Ok(transport.build())
}

/// Sends `message` through the SMTP server. lettre's own timeout bounds the
/// connect and each read or write; this one bounds the whole conversation,
/// so a server that stalls (or trickles) cannot hold the step.
async fn deliver(smtp: &Smtp, transport: &Transport, message: Message) -> Result<(), Error> {
    let server = format!("{}:{}", smtp.host, smtp.port);
    match tokio::time::timeout(smtp.timeout, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            // A refusal (5xx) or a certificate we do not trust will not
            // change by trying again.
            let permanent = e.is_permanent() || e.is_tls();
            Err(Error::new(format!("SMTP server {server}: {e}"), !permanent))
        }
        Err(_) => Err(Error::transient(format!(
            "SMTP server {server}: timed out: no answer within {} ms",
            smtp.timeout.as_millis()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;
    use crate::notify::{Settings, test_runtime};

    fn email() -> Email {
        Email {
            from_name: None,
            to: vec!["ada@example.com".into()],
            subject: "hello".into(),
            text: "hi".into(),
            html: None,
        }
    }

    /// A server that greets, then reads and never answers: the send ends
    /// with the timeout error, within the timeout.
    #[test]
    fn a_server_that_stalls_after_the_greeting_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"220 stalling ESMTP\r\n").unwrap();
            // Take whatever comes (EHLO) until the client hangs up.
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        });
        let notifier = Notifier::new(Settings {
            smtp: Some(Smtp {
                host: "127.0.0.1".into(),
                port,
                tls: Tls::None,
                ca_file: None,
                user: None,
                password: None,
                from: "keystep@example.com".into(),
                timeout: Duration::from_millis(300),
            }),
            ..Settings::default()
        });
        let outcome = test_runtime().block_on(async {
            // Generous: the send's own bound is 300 ms.
            tokio::time::timeout(
                Duration::from_secs(20),
                notifier.send_email(&email(), "r/s/1"),
            )
            .await
        });
        let error = outcome.expect("the send ends by itself").unwrap_err();
        assert_eq!(
            error,
            Error::transient(format!(
                "SMTP server 127.0.0.1:{port}: timed out: no answer within 300 ms"
            ))
        );
        server.join().unwrap();
    }
}
