//! What the README says about `[smtp]` beyond TLS: `tls = "none"` delivers
//! over plain TCP, the default port follows `tls`, and a 4xx answer may be
//! retried where a 5xx may not.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use keystep_tests::{Keystep, SMTP_USER, SmtpServer, Stub, attempts};
use serde_json::json;

const PASSWORD: &str = "smtp-test-password";

/// One message to the subject, tried up to twice.
const ONE: &str = r#"
name: one
trigger: manual
steps:
  - id: mail
    send_email: { to: [subject], subject: Hi, message: Hello. }
    retry: { attempts: 2, backoff: 1s }
"#;

/// The example directory, `ONE`, and `[smtp]` from `lines`.
fn setup(lines: &str) -> Keystep {
    let k = Keystep::with_examples();
    k.write(
        "keystep.toml",
        &format!("[smtp]\nfrom = \"keystep@example.com\"\ntimeout_ms = 5000\n{lines}"),
    );
    k.write("automations/one.yaml", ONE);
    k
}

#[test]
fn tls_none_delivers_over_plain_tcp() {
    let server = SmtpServer::start("plain", PASSWORD, &[]);
    let k = setup(&format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nuser = \"{SMTP_USER}\"\n\
         password = \"env:SMTP_PASSWORD\"\n",
        server.port()
    ));
    k.env("SMTP_PASSWORD", PASSWORD);
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(history["run"]["outputs"]["mail"]["via"], "smtp");
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["tls"], false);
    assert_eq!(messages[0]["auth_user"], SMTP_USER);
    assert_eq!(messages[0]["rcpt_tos"], json!(["ada@example.com"]));
}

#[test]
fn without_a_port_the_default_follows_tls() {
    // Nothing listens on these loopback ports here, so each attempt fails
    // to connect, and the error names the address it tried.
    for (tls, port) in [("none", 25), ("starttls", 587), ("tls", 465)] {
        let k = setup(&format!("host = \"127.0.0.1\"\ntls = \"{tls}\"\n"));
        let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
        assert_eq!(code, 1, "{tls}: {history}");
        let error = history["steps"][0]["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("SMTP server 127.0.0.1:{port}: ")),
            "{tls}: {error}"
        );
    }
    // And with no `tls` at all: STARTTLS, on 587.
    let k = setup("host = \"127.0.0.1\"\n");
    let (_, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    let error = history["steps"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("SMTP server 127.0.0.1:587: "), "{error}");
}

/// A plain SMTP server that greets, answers EHLO, and then answers MAIL
/// FROM with `reply`; it records each MAIL FROM it refused.
fn refusing(reply: &'static str) -> Stub {
    Stub::serve("127.0.0.1:0", move |_, stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let say = |s: &mut TcpStream, line: &str| {
            let _ = s.write_all(format!("{line}\r\n").as_bytes());
        };
        say(stream, "220 stub ESMTP");
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return "hung up".into();
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" | "HELO" => say(stream, "250 stub"),
                "MAIL" => {
                    say(stream, reply);
                    return line.trim_end().to_string();
                }
                "QUIT" => {
                    say(stream, "221 bye");
                    return "quit".into();
                }
                _ => say(stream, "500 unexpected"),
            }
        }
    })
}

#[test]
fn a_4xx_answer_is_retried_and_a_5xx_is_not() {
    let busy = refusing("451 4.3.0 mailbox busy, try later");
    let k = setup(&format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n",
        busy.addr().port()
    ));
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [
            json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": true}),
            json!({"step_id": "mail", "attempt": 2, "state": "failed", "retryable": true}),
        ]
    );
    let error = history["steps"][0]["error"].as_str().unwrap();
    assert!(error.contains("451"), "{error}");
    assert!(error.contains("mailbox busy"), "{error}");
    // Both attempts reached the server and were refused there.
    assert_eq!(
        busy.seen(),
        [
            "MAIL FROM:<keystep@example.com>",
            "MAIL FROM:<keystep@example.com>"
        ]
    );

    let refused = refusing("550 5.7.1 not accepted");
    let k = setup(&format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n",
        refused.addr().port()
    ));
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": false})]
    );
    assert_eq!(refused.seen().len(), 1);
}
