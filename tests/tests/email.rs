//! `send_email` against a real SMTP server (tests/servers/smtp.py, aiosmtpd)
//! that wants STARTTLS (or implicit TLS) and AUTH, with a certificate from
//! its own CA: what arrives, what is refused and whether it is retried, and
//! the outbox and dry run that send nothing.

use std::net::TcpListener;
use std::time::Duration;

use keystep_tests::{
    Keystep, SMTP_USER, SmtpServer, assert_between, attempt_seconds, attempts, closed_port,
};
use serde_json::{Value as Json, json};

const PASSWORD: &str = "smtp-test-password";

/// Mail to the subject, their manager (a user id from CEL) and an address;
/// the message uses Markdown. Then a plain-text confirmation to the
/// subject's address, from CEL.
const NOTIFY: &str = r#"
name: notify
trigger: manual
steps:
  - id: notify
    send_email:
      to: [subject, "{{ ctx.trigger.user.manager_id }}", it@example.com]
      title: IT Automation
      subject: "Offboarding: {{ ctx.trigger.user.display_name }}"
      message: "Hello,\n\n{{ ctx.trigger.user.display_name }} has **left**."
  - id: confirm
    send_email:
      to: "{{ ctx.trigger.user.email }}"
      subject: Your access was removed
      message: Goodbye and thank you.
"#;

/// One message to two recipients, retried up to three times when that may
/// help.
const ONE: &str = r#"
name: one
trigger: manual
steps:
  - id: mail
    send_email: { to: [subject, gone@example.com], subject: Hi, message: Hello. }
    retry: { attempts: 3, backoff: 1s }
"#;

/// `[smtp]` for `port`, trusting `certs/ca.pem` (copied from `server`).
fn configure(k: &Keystep, server: &SmtpServer, host: &str, port: u16, tls: &str) {
    std::fs::create_dir_all(k.path().join("certs")).unwrap();
    std::fs::copy(server.ca_pem(), k.path().join("certs/ca.pem")).unwrap();
    k.write(
        "keystep.toml",
        &format!(
            "[smtp]\nhost = \"{host}\"\nport = {port}\ntls = \"{tls}\"\n\
             ca_file = \"certs/ca.pem\"\nuser = \"{SMTP_USER}\"\n\
             password = \"env:SMTP_PASSWORD\"\nfrom = \"keystep@example.com\"\n\
             timeout_ms = 5000\n"
        ),
    );
    k.env("SMTP_PASSWORD", PASSWORD);
}

/// The example directory and automations, and `[smtp]` for `server`.
fn setup(server: &SmtpServer, host: &str, tls: &str) -> Keystep {
    let k = Keystep::with_examples();
    configure(&k, server, host, server.port(), tls);
    k
}

/// A raw message (CRLF or LF) as its unfolded headers and its body (LF).
fn split(data: &str) -> (Vec<(String, String)>, String) {
    let data = data.replace("\r\n", "\n");
    let (head, body) = data
        .split_once("\n\n")
        .expect("headers, a blank line, a body");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            headers.last_mut().unwrap().1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn header(data: &str, name: &str) -> String {
    let (headers, _) = split(data);
    let found: Vec<&String> = headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(found.len(), 1, "one {name} header in\n{data}");
    found[0].clone()
}

/// The parts of a `multipart/*` message: (Content-Type, body without the
/// line break before the next boundary).
fn parts(data: &str) -> Vec<(String, String)> {
    let content_type = header(data, "content-type");
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"');
    let (_, body) = split(data);
    let delimiter = format!("--{boundary}");
    let pieces: Vec<&str> = body.split(&delimiter).collect();
    assert_eq!(pieces.last().map(|p| p.trim()), Some("--"), "{body}");
    pieces[1..pieces.len() - 1]
        .iter()
        .map(|piece| {
            let piece = piece.strip_prefix('\n').unwrap();
            let (_, part_body) = split(piece);
            let part_body = part_body.strip_suffix('\n').unwrap().to_string();
            (header(piece, "content-type"), part_body)
        })
        .collect()
}

fn step_error(history: &Json, index: usize) -> String {
    history["steps"][index]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("step {index} has no error: {history}"))
        .to_string()
}

#[test]
fn starttls_and_auth_deliver_text_and_html_with_the_title_as_sender_name() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    let k = setup(&server, "localhost", "starttls");
    k.write("automations/notify.yaml", NOTIFY);
    let (code, history) = k.run_json("notify", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let outputs = &history["run"]["outputs"];
    let notify_id = format!("<{id}.notify.1@keystep>");
    assert_eq!(outputs["notify"]["message_id"], notify_id);
    assert_eq!(
        outputs["notify"]["recipients"],
        json!(["ada@example.com", "ken@example.com", "it@example.com"])
    );
    assert_eq!(outputs["notify"]["via"], "smtp");
    assert!(outputs["notify"]["path"].is_null(), "{outputs}");
    assert_eq!(outputs["confirm"]["recipients"], json!(["ada@example.com"]));
    assert_eq!(outputs["confirm"]["via"], "smtp");

    let messages = server.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let first = &messages[0];
    assert_eq!(first["mail_from"], "keystep@example.com");
    assert_eq!(
        first["rcpt_tos"],
        json!(["ada@example.com", "ken@example.com", "it@example.com"])
    );
    assert_eq!(first["auth_user"], SMTP_USER);
    assert_eq!(first["tls"], true, "STARTTLS was used");
    let data = first["data"].as_str().unwrap();
    assert_eq!(
        header(data, "from"),
        "\"IT Automation\" <keystep@example.com>"
    );
    assert_eq!(
        header(data, "to"),
        "ada@example.com, ken@example.com, it@example.com"
    );
    assert_eq!(header(data, "subject"), "Offboarding: Ada Lovelace");
    assert_eq!(header(data, "message-id"), notify_id);
    assert!(header(data, "content-type").starts_with("multipart/alternative;"));
    let parts = parts(data);
    assert_eq!(parts.len(), 2, "{data}");
    assert_eq!(parts[0].0, "text/plain; charset=utf-8");
    assert_eq!(parts[0].1, "Hello,\n\nAda Lovelace has **left**.");
    assert_eq!(parts[1].0, "text/html; charset=utf-8");
    assert_eq!(
        parts[1].1,
        "<p>Hello,</p>\n<p>Ada Lovelace has <strong>left</strong>.</p>\n"
    );

    // Plain text: one text/plain part, no HTML; no title, no display name.
    let second = &messages[1];
    assert_eq!(second["rcpt_tos"], json!(["ada@example.com"]));
    let data = second["data"].as_str().unwrap();
    assert_eq!(header(data, "from"), "keystep@example.com");
    assert_eq!(header(data, "subject"), "Your access was removed");
    assert_eq!(
        header(data, "message-id"),
        format!("<{id}.confirm.1@keystep>")
    );
    assert_eq!(header(data, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(split(data).1.trim_end(), "Goodbye and thank you.");
    assert!(!data.contains("text/html"), "{data}");
}

#[test]
fn implicit_tls_delivers() {
    let server = SmtpServer::start("tls", PASSWORD, &[]);
    let k = setup(&server, "127.0.0.1", "tls");
    k.write("automations/notify.yaml", NOTIFY);
    let (code, history) = k.run_json("notify", r#"{"user_id": "u-linus"}"#);
    assert_eq!(code, 0, "{history}");
    let messages = server.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["tls"], true);
    assert_eq!(messages[0]["auth_user"], SMTP_USER);
    assert_eq!(
        messages[0]["rcpt_tos"],
        json!(["linus@example.com", "ken@example.com", "it@example.com"])
    );
    let data = messages[0]["data"].as_str().unwrap();
    assert_eq!(header(data, "subject"), "Offboarding: Linus Torvalds");
    assert_eq!(messages[1]["rcpt_tos"], json!(["linus@example.com"]));
}

#[test]
fn a_refused_recipient_fails_the_step_for_good_and_nothing_is_delivered() {
    let server = SmtpServer::start("starttls", PASSWORD, &["gone@example.com"]);
    let k = setup(&server, "localhost", "starttls");
    k.write("automations/one.yaml", ONE);
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    assert_eq!(history["run"]["state"], "failed");
    // Not retried, although the step may be tried three times.
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": false})]
    );
    let error = step_error(&history, 0);
    assert_eq!(
        error,
        format!(
            "SMTP server localhost:{}: permanent error (550): 5.1.1 no such user",
            server.port()
        )
    );
    assert_eq!(
        history["run"]["error"],
        format!("step `mail` failed: {error}")
    );
    // lettre gives up on the whole message: ada gets nothing either.
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn a_wrong_password_is_a_535_error_that_is_not_retried() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    let k = setup(&server, "localhost", "starttls");
    k.env("SMTP_PASSWORD", "not-the-password");
    k.write("automations/one.yaml", ONE);
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": false})]
    );
    let error = step_error(&history, 0);
    assert_eq!(
        error,
        format!(
            "SMTP server localhost:{}: permanent error (535): 5.7.8 Authentication credentials invalid",
            server.port()
        )
    );
    assert!(!error.contains("not-the-password"), "{error}");
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn a_server_that_is_down_is_a_retryable_error() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    let k = Keystep::with_examples();
    let port = closed_port();
    configure(&k, &server, "127.0.0.1", port, "starttls");
    k.write(
        "automations/one.yaml",
        &ONE.replace("attempts: 3", "attempts: 2"),
    );
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    // Retryable: the second attempt is made, and fails the same way.
    assert_eq!(
        attempts(&history),
        [
            json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": true}),
            json!({"step_id": "mail", "attempt": 2, "state": "failed", "retryable": true}),
        ]
    );
    for index in 0..2 {
        let error = step_error(&history, index);
        assert!(
            error.starts_with(&format!("SMTP server 127.0.0.1:{port}: ")),
            "{error}"
        );
        assert!(error.contains("Connection refused"), "{error}");
    }
}

#[test]
fn a_server_that_never_greets_times_out_retryably() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    // Connections are queued by the kernel and never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let k = Keystep::with_examples();
    configure(
        &k,
        &server,
        "127.0.0.1",
        silent.local_addr().unwrap().port(),
        "starttls",
    );
    let config = std::fs::read_to_string(k.path().join("keystep.toml")).unwrap();
    k.write(
        "keystep.toml",
        &config.replace("timeout_ms = 5000", "timeout_ms = 1000"),
    );
    k.write(
        "automations/one.yaml",
        &ONE.replace("    retry: { attempts: 3, backoff: 1s }\n", ""),
    );
    // timeout_ms is 1 s; a minute is ample and keeps a hang from stalling
    // the suite.
    let args = ["--json", "run", "one", "--input", r#"{"user_id": "u-ada"}"#];
    let ran = k
        .run_within(&args, Duration::from_secs(60))
        .expect("keystep still waited for the greeting a minute later (timeout_ms = 1000)");
    assert_eq!(ran.code, 1, "{ran:?}");
    let history = ran.json();
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": true})]
    );
    let error = step_error(&history, 0);
    assert!(error.to_lowercase().contains("timed out"), "{error}");
    assert_between(
        attempt_seconds(&history["steps"][0]),
        1.0,
        10.0,
        "an attempt against a server that never greets (timeout_ms = 1000)",
    );
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    let k = setup(&server, "localhost", "starttls");
    let config = std::fs::read_to_string(k.path().join("keystep.toml")).unwrap();
    k.write(
        "keystep.toml",
        &config.replace("ca_file = \"certs/ca.pem\"\n", ""),
    );
    k.write(
        "automations/one.yaml",
        &ONE.replace("    retry: { attempts: 3, backoff: 1s }\n", ""),
    );
    let (code, history) = k.run_json("one", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    let error = step_error(&history, 0);
    assert!(error.contains("invalid peer certificate"), "{error}");
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn a_user_without_email_or_a_bad_address_fails_before_connecting() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    // A server address that records whether anything connected.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let k = Keystep::new();
    k.write(
        "directory.yaml",
        "users:\n  - { id: u-ada, display_name: Ada Lovelace, email: ada@example.com }\n  \
         - { id: u-bot, display_name: Build Bot, username: bot }\n",
    );
    k.ok(&["directory", "import", "directory.yaml"]);
    configure(
        &k,
        &server,
        "127.0.0.1",
        listener.local_addr().unwrap().port(),
        "starttls",
    );
    k.write(
        "automations/one.yaml",
        "name: one\ntrigger: manual\nsteps:\n  - id: mail\n    \
         send_email: { to: [u-ada, subject], subject: Hi, message: Hello. }\n    \
         retry: { attempts: 3, backoff: 1s }\n",
    );
    let (code, history) = k.run_json("one", r#"{"user_id": "u-bot"}"#);
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "mail", "attempt": 1, "state": "failed", "retryable": false})]
    );
    assert_eq!(
        step_error(&history, 0),
        "`to`: user `u-bot` has no email address"
    );

    k.write(
        "automations/bad.yaml",
        "name: bad\ntrigger: manual\nsteps:\n  - id: mail\n    \
         send_email: { to: [u-ada, \"{{ ctx.trigger.address }}\"], subject: Hi, message: Hello. }\n",
    );
    let (code, history) = k.run_json("bad", r#"{"address": "ada@@example"}"#);
    assert_eq!(code, 1, "{history}");
    assert_eq!(history["steps"][0]["retryable"], false);
    assert_eq!(
        step_error(&history, 0),
        "`to`: `ada@@example` is not a valid email address"
    );

    // Nobody connected to the SMTP server.
    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "keystep connected: {accepted:?}"
    );
}

#[test]
fn without_smtp_the_message_goes_to_the_outbox() {
    let k = Keystep::with_examples();
    k.write("automations/notify.yaml", NOTIFY);
    let (code, history) = k.run_json("notify", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let output = &history["run"]["outputs"]["notify"];
    assert_eq!(output["via"], "outbox");
    assert_eq!(output["message_id"], format!("<{id}.notify.1@keystep>"));
    let name = format!("email-{id}-notify-1.eml");
    let path = output["path"].as_str().unwrap();
    assert!(path.ends_with(&format!(".keystep/outbox/{name}")), "{path}");
    let file = k.path().join(".keystep/outbox").join(&name);
    let data = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        header(&data, "from"),
        "\"IT Automation\" <keystep@localhost>"
    );
    assert_eq!(
        header(&data, "to"),
        "ada@example.com, ken@example.com, it@example.com"
    );
    assert_eq!(header(&data, "subject"), "Offboarding: Ada Lovelace");
    assert_eq!(
        header(&data, "message-id"),
        format!("<{id}.notify.1@keystep>")
    );
    let parts = parts(&data);
    assert_eq!(parts[0].1, "Hello,\n\nAda Lovelace has **left**.");
    assert_eq!(
        parts[1].1,
        "<p>Hello,</p>\n<p>Ada Lovelace has <strong>left</strong>.</p>\n"
    );
    let mut files: Vec<String> = std::fs::read_dir(k.path().join(".keystep/outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [format!("email-{id}-confirm-1.eml"), name]);
}

#[test]
fn a_dry_run_shows_the_mail_and_sends_nothing() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    let k = setup(&server, "localhost", "starttls");
    k.write("automations/notify.yaml", NOTIFY);
    let out = k.json(&[
        "run",
        "notify",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert_eq!(out["dry_run"], true);
    assert_eq!(
        out["runs"][0]["run"]["outputs"]["notify"],
        json!({
            "dry_run": "would send this email",
            "to": ["ada@example.com", "ken@example.com", "it@example.com"],
            "title": "IT Automation",
            "subject": "Offboarding: Ada Lovelace",
            "message": "Hello,\n\nAda Lovelace has **left**.",
        })
    );
    let text = k.ok(&[
        "run",
        "notify",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert!(text.contains("would send this email"), "{text}");
    assert_eq!(server.messages(), Vec::<Json>::new());
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);

    // Without [smtp] a real run writes to the outbox; a dry run does not.
    std::fs::remove_file(k.path().join("keystep.toml")).unwrap();
    let out = k.json(&[
        "run",
        "notify",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert_eq!(
        out["runs"][0]["run"]["outputs"]["notify"]["dry_run"],
        "would send this email"
    );
    assert!(!k.path().join(".keystep/outbox").exists());
    let (code, history) = k.run_json("notify", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(history["run"]["outputs"]["notify"]["via"], "outbox");
    assert!(k.path().join(".keystep/outbox").is_dir());
}

/// A part's body with quoted-printable undone (lettre uses it for long lines).
fn decoded(body: &str) -> String {
    if !body.contains("=3D") && !body.contains("=\n") {
        return body.to_string();
    }
    let joined = body.replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(Ok(b)) = joined.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Mail whose values carry markup: the author's Markdown and HTML stay
/// markup, the values become text.
const GREET: &str = r#"
name: greet
trigger: manual
steps:
  - id: markdown
    send_email:
      to: subject
      subject: Hello
      message: "**Hello** {{ ctx.trigger.user.display_name }}, see [the portal](https://portal.example)."
  - id: html
    send_email:
      to: subject
      subject: Hello
      message: "<p>Hello <b>{{ ctx.trigger.user.display_name }}</b></p>"
  - id: data
    send_email:
      to: subject
      subject: Hello
      message: "{{ ctx.trigger.note }}"
"#;

#[test]
fn values_in_a_message_are_escaped_in_its_html_part() {
    let server = SmtpServer::start("starttls", PASSWORD, &[]);
    let k = setup(&server, "localhost", "starttls");
    let name = r#"<script>alert(1)</script><a href="https://evil.example">x</a> [y](https://evil.example) **z**"#;
    k.write(
        "evil.json",
        &json!({ "users": [{ "id": "u-eve", "display_name": name, "email": "eve@example.com" }] })
            .to_string(),
    );
    k.ok(&["directory", "import", "evil.json"]);
    k.write("automations/greet.yaml", GREET);
    let input = json!({ "user_id": "u-eve", "note": "<b>bold</b> [link](https://evil.example)" });
    let (code, history) = k.run_json("greet", &input.to_string());
    assert_eq!(code, 0, "{history}");
    let messages = server.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");
    let html_of = |i: usize| -> String {
        let data = messages[i]["data"].as_str().unwrap();
        let parts = parts(data);
        assert_eq!(parts.len(), 2, "{data}");
        assert_eq!(
            decoded(&parts[0].1),
            [
                format!("**Hello** {name}, see [the portal](https://portal.example)."),
                format!("<p>Hello <b>{name}</b></p>"),
            ][i],
            "the text part keeps the value as it is"
        );
        assert_eq!(parts[1].0, "text/html; charset=utf-8");
        decoded(&parts[1].1)
    };
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&quot;https://evil.example&quot;&gt;x&lt;/a&gt; [y](https://evil.example) **z**";
    let markdown = html_of(0);
    // pulldown-cmark writes quotes in text as they are: harmless outside a tag.
    assert_eq!(
        markdown,
        format!(
            "<p><strong>Hello</strong> {}, see <a href=\"https://portal.example\">the portal</a>.</p>\n",
            escaped.replace("&quot;", "\"")
        )
    );
    let html = html_of(1);
    assert_eq!(html, format!("<p>Hello <b>{escaped}</b></p>"));
    for part in [&markdown, &html] {
        assert!(!part.contains("<script"), "{part}");
        assert!(!part.contains("<a href=\"https://evil"), "{part}");
        assert!(!part.contains("<strong>z"), "{part}");
    }
    // A message that is all data is plain text: no HTML part at all.
    let data = messages[2]["data"].as_str().unwrap();
    assert_eq!(header(data, "content-type"), "text/plain; charset=utf-8");
    assert!(!data.contains("text/html"), "{data}");
}
