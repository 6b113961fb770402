//! The SMTP password, the Slack token, webhook secrets and plugin secrets
//! never leave keystep: not in what it prints (text or `--json`, success or
//! failure), not in run histories, not in the store's bytes, not in the
//! outbox; not even when a plugin puts its secret in everything it says.

use keystep_tests::{
    Keystep, Ran, SMTP_USER, SlackServer, SmtpServer, WebhookReceiver, contains_bytes, files_under,
};
use serde_json::{Value as Json, json};

const SMTP_PASSWORD: &str = "smtp-Pw-7f3Kq9Zx";
const WRONG_SMTP_PASSWORD: &str = "smtp-Wrong-Pw-4bN8";
const SLACK_TOKEN: &str = "xoxb-Sl4ck-T0ken-91xQ";
const WRONG_SLACK_TOKEN: &str = "xoxb-Wr0ng-T0ken-55zR";
/// `whsec_` and the base64 of [`HOOK_KEY`].
const HOOK_SECRET: &str = "whsec_aG9vay1LZXktWno4MUxtNFFwN1Z4LXNlY3JldA==";
const HOOK_KEY: &str = "hook-Key-Zz81Lm4Qp7Vx-secret";
/// `whsec_` and the base64 of [`WRONG_HOOK_KEY`].
const WRONG_HOOK_SECRET: &str = "whsec_aG9vay1Xcm9uZy1LZXktWXk2MktuMw==";
const WRONG_HOOK_KEY: &str = "hook-Wrong-Key-Yy62Kn3";

/// Every value that must not show: the secrets, right and wrong, and the
/// webhook keys both encoded and decoded.
const SECRETS: [&str; 10] = [
    SMTP_PASSWORD,
    WRONG_SMTP_PASSWORD,
    SLACK_TOKEN,
    WRONG_SLACK_TOKEN,
    HOOK_SECRET,
    "aG9vay1LZXktWno4MUxtNFFwN1Z4LXNlY3JldA",
    HOOK_KEY,
    WRONG_HOOK_SECRET,
    "aG9vay1Xcm9uZy1LZXktWXk2MktuMw",
    WRONG_HOOK_KEY,
];

const ALL: &str = r##"
name: all
trigger: manual
steps:
  - id: mail
    send_email: { to: subject, title: IT, subject: Bye, message: "**Goodbye**" }
  - id: channel
    send_slack_message: { channel: "#it-alerts", message: "{{ ctx.trigger.user.display_name }} left" }
  - id: dm
    send_slack_message: { users: [subject], message: bye }
  - id: hook
    run_webhook: { webhook: hr, payload: { user: "{{ ctx.trigger.user_id }}" } }
"##;

/// Asserts that no secret occurs in `what` (named `name` in the message).
fn assert_clean(name: &str, what: &[u8]) {
    for secret in SECRETS {
        assert!(
            !contains_bytes(what, secret.as_bytes()),
            "{name} holds the secret {secret:?}:\n{}",
            String::from_utf8_lossy(what)
        );
    }
}

/// Everything a command printed.
fn printed(ran: &Ran) -> Vec<u8> {
    format!("{}\n{}", ran.stdout, ran.stderr).into_bytes()
}

/// Runs `args` and again with `--json`; asserts the exit code of both and
/// returns what they printed.
fn both_ways(k: &Keystep, args: &[&str], code: i32) -> Vec<Ran> {
    let mut json = vec!["--json"];
    json.extend_from_slice(args);
    [k.run(args), k.run(&json)]
        .into_iter()
        .map(|ran| {
            assert_eq!(ran.code, code, "{args:?}: {ran:?}");
            ran
        })
        .collect()
}

#[test]
fn secrets_never_show_in_output_history_or_store() {
    let smtp = SmtpServer::start("starttls", SMTP_PASSWORD, &[]);
    let slack = SlackServer::start(SLACK_TOKEN);
    let hooks = WebhookReceiver::start(HOOK_SECRET);
    let k = Keystep::with_examples();
    std::fs::create_dir_all(k.path().join("certs")).unwrap();
    std::fs::copy(smtp.ca_pem(), k.path().join("certs/ca.pem")).unwrap();
    k.write(
        "keystep.toml",
        &format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\nca_file = \"certs/ca.pem\"\n\
             user = \"{SMTP_USER}\"\npassword = \"env:SMTP_PASSWORD\"\n\
             from = \"keystep@example.com\"\n\n\
             [slack]\napi_url = \"{}\"\ntoken = \"env:SLACK_TOKEN\"\n\n\
             [webhooks.hr]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\n",
            smtp.port(),
            slack.api_url(),
            hooks.url("/hook")
        ),
    );
    k.write("automations/all.yaml", ALL);
    for (step, name) in [(0, "mail"), (1, "channel"), (3, "hook")] {
        let only = ALL
            .lines()
            .take(4)
            .chain(ALL.lines().skip(4 + 2 * step).take(2))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("name: all", &format!("name: {name}"));
        k.write(&format!("automations/{name}.yaml"), &only);
    }
    k.env("SMTP_PASSWORD", SMTP_PASSWORD)
        .env("SLACK_TOKEN", SLACK_TOKEN)
        .env("HOOK_SECRET", HOOK_SECRET);
    let input = r#"{"user_id": "u-ada"}"#;
    let mut outputs: Vec<Ran> = Vec::new();
    // A reader kept open keeps the write-ahead log from being folded into
    // the database and removed when each keystep command ends.
    let reader = k.db();
    let users: i64 = reader
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(users > 0);

    // Everything succeeds, printed as text and as JSON; and a dry run.
    outputs.extend(both_ways(&k, &["run", "all", "--input", input], 0));
    outputs.extend(both_ways(
        &k,
        &["run", "all", "--dry-run", "--input", input],
        0,
    ));
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(slack.messages().len(), 4);
    assert_eq!(hooks.deliveries().len(), 2);

    // Each channel fails on a wrong secret (the later value wins).
    k.env("SMTP_PASSWORD", WRONG_SMTP_PASSWORD);
    outputs.extend(both_ways(&k, &["run", "mail", "--input", input], 1));
    k.env("SLACK_TOKEN", WRONG_SLACK_TOKEN);
    outputs.extend(both_ways(&k, &["run", "channel", "--input", input], 1));
    k.env("HOOK_SECRET", WRONG_HOOK_SECRET);
    outputs.extend(both_ways(&k, &["run", "hook", "--input", input], 1));
    let failures: Vec<&str> = outputs[outputs.len() - 6..]
        .iter()
        .map(|r| r.stdout.as_str())
        .collect();
    assert!(failures[0].contains("535"), "{}", failures[0]);
    assert!(failures[2].contains("invalid_auth"), "{}", failures[2]);
    assert!(failures[4].contains("401"), "{}", failures[4]);
    assert_eq!(smtp.messages().len(), 2, "nothing more was delivered");
    assert_eq!(slack.messages().len(), 4);
    assert_eq!(hooks.deliveries().len(), 2);

    // The histories of every run, and the lists.
    let runs = k.json(&["runs", "list", "--limit", "100"]);
    let ids: Vec<i64> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 8, "{runs}");
    for id in &ids {
        outputs.extend(both_ways(&k, &["runs", "show", &id.to_string()], 0));
    }
    outputs.extend(both_ways(&k, &["runs", "list"], 0));
    outputs.extend(both_ways(&k, &["runs", "list", "--state", "failed"], 0));
    for ran in &outputs {
        assert_clean("keystep's output", &printed(ran));
    }

    // The raw bytes of every file keystep wrote: the store (and its WAL,
    // when there is one), the configuration, the automations.
    let files = files_under(k.path());
    for store_file in ["keystep.db", "keystep.db-wal"] {
        let path = k.path().join(".keystep").join(store_file);
        assert!(files.contains(&path), "{files:?}");
        assert!(std::fs::metadata(&path).unwrap().len() > 0, "{path:?}");
    }
    let mut store = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert_clean(&file.display().to_string(), &bytes);
        if file.starts_with(k.path().join(".keystep")) {
            store.extend(bytes);
        }
    }
    drop(reader);
    // The scan sees the store's contents: the errors are there in the clear.
    for written in [
        "Authentication credentials invalid",
        "invalid_auth",
        "bad signature",
    ] {
        assert!(
            contains_bytes(&store, written.as_bytes()),
            "the store does not hold {written:?}"
        );
    }
}

/// The configuration for `smtp` and `slack` servers, and the `hr` webhook;
/// a channel left out goes to the outbox.
fn channels(
    smtp: Option<&SmtpServer>,
    slack: Option<&SlackServer>,
    hooks: &WebhookReceiver,
) -> String {
    let mut config = String::new();
    if let Some(smtp) = smtp {
        config += &format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\nca_file = \"certs/ca.pem\"\n\
             user = \"{SMTP_USER}\"\npassword = \"env:SMTP_PASSWORD\"\n\
             from = \"keystep@example.com\"\n\n",
            smtp.port()
        );
    }
    if let Some(slack) = slack {
        config += &format!(
            "[slack]\napi_url = \"{}\"\ntoken = \"env:SLACK_TOKEN\"\n\n",
            slack.api_url()
        );
    }
    config
        + &format!(
            "[webhooks.hr]\nurl = \"{}\"\nsecret = \"env:HOOK_SECRET\"\n",
            hooks.url("/hook")
        )
}

#[test]
fn secrets_never_show_in_the_outbox() {
    // Each channel in turn is the real one, using its secret, while the
    // other writes to the outbox in the same run.
    let smtp = SmtpServer::start("starttls", SMTP_PASSWORD, &[]);
    let slack = SlackServer::start(SLACK_TOKEN);
    let hooks = WebhookReceiver::start(HOOK_SECRET);
    let k = Keystep::with_examples();
    std::fs::create_dir_all(k.path().join("certs")).unwrap();
    std::fs::copy(smtp.ca_pem(), k.path().join("certs/ca.pem")).unwrap();
    k.write("automations/all.yaml", ALL);
    k.env("SMTP_PASSWORD", SMTP_PASSWORD)
        .env("SLACK_TOKEN", SLACK_TOKEN)
        .env("HOOK_SECRET", HOOK_SECRET);
    let input = r#"{"user_id": "u-ada"}"#;
    let mut ran = Vec::new();
    k.write("keystep.toml", &channels(Some(&smtp), None, &hooks));
    ran.extend(both_ways(&k, &["run", "all", "--input", input], 0));
    assert_eq!(smtp.messages().len(), 2, "the password was used");
    k.write("keystep.toml", &channels(None, Some(&slack), &hooks));
    ran.extend(both_ways(&k, &["run", "all", "--input", input], 0));
    assert_eq!(slack.messages().len(), 4, "the token was used");
    assert_eq!(hooks.deliveries().len(), 4);
    for r in &ran {
        assert_clean("keystep's output", &printed(r));
    }
    // Two runs mailed to the outbox, and two posted there (two posts each).
    let outbox = files_under(&k.path().join(".keystep/outbox"));
    assert_eq!(outbox.len(), 6, "{outbox:?}");
    for file in files_under(k.path()) {
        assert_clean(&file.display().to_string(), &std::fs::read(&file).unwrap());
    }
}

#[test]
fn a_secret_written_in_the_configuration_is_refused_without_being_echoed() {
    let k = Keystep::with_examples();
    for (section, secret) in [
        (
            format!(
                "[smtp]\nhost = \"localhost\"\nfrom = \"a@example.com\"\nuser = \"u\"\npassword = \"{SMTP_PASSWORD}\"\n"
            ),
            "smtp.password",
        ),
        (
            format!("[slack]\ntoken = \"{SLACK_TOKEN}\"\n"),
            "slack.token",
        ),
        (
            format!(
                "[webhooks.hr]\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"{HOOK_SECRET}\"\n"
            ),
            "webhooks.hr.secret",
        ),
    ] {
        k.write("keystep.toml", &section);
        for ran in both_ways(&k, &["validate"], 2) {
            let shown = printed(&ran);
            assert_clean("the configuration error", &shown);
            let text = String::from_utf8(shown).unwrap();
            assert!(
                text.contains(&format!("{secret} must be `env:VARIABLE` or `file:PATH`")),
                "{text}"
            );
        }
    }
}

/// The value of the secret granted to the hostile plugin `leaky`.
const PLUGIN_SECRET: &str = "leaky-S3cret-9vQ2xLw";

/// `leaky` (the hostile plugin) granted [`PLUGIN_SECRET`] and a scratch
/// directory, and an automation `leak` that calls it with `ctx.trigger.args`.
fn leaky() -> Keystep {
    let k = Keystep::with_examples();
    k.share_plugin_cache();
    k.add_plugin("hostile", "leaky");
    k.write(
        "plugins/leaky.toml",
        "scratch = true\nsecrets = { token = \"env:LEAKY_TOKEN\" }\n",
    );
    k.env("LEAKY_TOKEN", PLUGIN_SECRET);
    k.write(
        "automations/leak.yaml",
        "name: leak\ntrigger: manual\nsteps:\n  - id: leak\n    call_function: \
         { function: leaky, input: \"{{ ctx.trigger.args }}\" }\n",
    );
    k
}

#[test]
fn a_plugin_cannot_leak_its_secret_through_logs_errors_output_or_scratch() {
    let k = leaky();
    // A reader kept open keeps the write-ahead log (see above).
    let reader = k.db();
    let users: i64 = reader
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(users > 0);
    let mut printed_all = Vec::new();
    // What each way of leaking leaves, with `[secret]` in place of the value.
    let cases: [(&str, Json); 7] = [
        ("log", json!({"logged": true})),
        (
            "message",
            json!("plugin `leaky`: leaky: failed with [secret]"),
        ),
        (
            "code",
            json!(
                "plugin `leaky`: plugin-error: see the code (its error code was not a short [a-z0-9-] word)"
            ),
        ),
        ("output", json!({"token": "[secret]", "[secret]": "a key"})),
        ("escaped", json!({"token": "[secret]"})),
        // Kept in /scratch in one call, shown by a later one that reads no
        // secret.
        ("keep", json!({"kept": true})),
        ("kept", json!({"kept": "[secret]"})),
    ];
    for (via, expected) in cases {
        let input =
            json!({"user_id": "u-ada", "args": {"do": "leak", "name": "token", "via": via}});
        for json_output in [false, true] {
            let mut args = vec!["run", "leak", "--input"];
            let input = input.to_string();
            args.push(&input);
            if json_output {
                args.insert(0, "--json");
            }
            let ran = k.run(&args);
            let failing = expected.is_string();
            assert_eq!(ran.code, i32::from(failing), "{via}: {ran:?}");
            if via == "log" {
                assert!(
                    ran.stderr
                        .contains("[plugin leaky] warn: the secret is [secret]"),
                    "{via}: {ran:?}"
                );
            }
            printed_all.push(ran);
        }
        let runs = k.json(&["runs", "list", "--limit", "1"]);
        let history = k.show(runs[0]["id"].as_i64().unwrap());
        if expected.is_string() {
            assert_eq!(history["steps"][0]["error"], expected, "{via}");
        } else {
            assert_eq!(history["run"]["outputs"]["leak"], expected, "{via}");
        }
    }
    // Every history, both ways, and the lists.
    for id in 1..=14 {
        printed_all.extend(both_ways(&k, &["runs", "show", &id.to_string()], 0));
    }
    printed_all.extend(both_ways(&k, &["runs", "list", "--limit", "100"], 0));
    for ran in &printed_all {
        assert!(
            !contains_bytes(&printed(ran), PLUGIN_SECRET.as_bytes()),
            "the secret shows: {ran:?}"
        );
    }
    // The store's bytes (the reader keeps the write-ahead log).
    let mut store = Vec::new();
    for file in ["keystep.db", "keystep.db-wal"] {
        let bytes = std::fs::read(k.path().join(".keystep").join(file)).unwrap();
        assert!(!bytes.is_empty(), "{file}");
        assert!(
            !contains_bytes(&bytes, PLUGIN_SECRET.as_bytes()),
            "the secret is in {file}"
        );
        store.extend(bytes);
    }
    assert!(
        contains_bytes(&store, b"[secret]"),
        "the scan sees the scrubbed values"
    );
    drop(reader);
}

#[test]
fn reading_a_secret_over_and_over_keeps_one_copy() {
    // 16 KiB, read 10,000 times in one call: 160 MB if each read kept a
    // copy; about 30 MB (a debug build) when it is kept once.
    let k = leaky();
    let big = "k".repeat(16 << 10);
    k.env("LEAKY_TOKEN", &big);
    k.write(
        "plugins/leaky.toml",
        "secrets = { token = \"env:LEAKY_TOKEN\" }\n[limits]\ntimeout_ms = 60000\n",
    );
    let input = json!({"do": "reread", "name": "token", "times": 10_000}).to_string();
    let (code, peak_kib) =
        keystep_tests::peak_memory(k.command(&["call", "leaky", "--input", &input]));
    assert_eq!(code, 0);
    assert!(
        peak_kib < 100 << 10,
        "the host peaked at {} MiB",
        peak_kib >> 10
    );
}
