//! `send_slack_message` against a stand-in for the Slack Web API
//! (tests/servers/slack.py): channel names resolved page by page and
//! remembered for the process, direct messages found by email, rate limits
//! waited out, and Slack's errors with their hints.

use keystep_tests::{Keystep, SlackServer, assert_between, attempt_seconds, attempts};
use serde_json::{Value as Json, json};

const TOKEN: &str = "xoxb-keystep-tests";

/// The `next_cursor` of the first page of conversations.list.
const PAGE_2: &str = "b2Zmc2V0OjI=";

/// The example directory and automations, `[slack]` for `server`, and the
/// token in `$SLACK_TOKEN`.
fn setup(server: &SlackServer) -> Keystep {
    let k = Keystep::with_examples();
    k.write(
        "keystep.toml",
        &format!(
            "[slack]\napi_url = \"{}\"\ntoken = \"env:SLACK_TOKEN\"\n",
            server.api_url()
        ),
    );
    k.env("SLACK_TOKEN", TOKEN);
    k
}

/// An automation `name` with one `send_slack_message` step `post`, whose
/// fields are `fields` (YAML flow mapping entries), tried up to 3 times.
fn one_step(k: &Keystep, name: &str, fields: &str) {
    k.write(
        &format!("automations/{name}.yaml"),
        &format!(
            "name: {name}\ntrigger: manual\nsteps:\n  - id: post\n    \
             send_slack_message: {{ {fields} }}\n    retry: {{ attempts: 3, backoff: 1s }}\n"
        ),
    );
}

/// (method, params) of each Web API call, all of them authorized.
fn calls(server: &SlackServer) -> Vec<(String, Json)> {
    server
        .calls()
        .into_iter()
        .map(|c| {
            assert_eq!(c["authorized"], true, "{c}");
            (
                c["method"].as_str().unwrap().to_string(),
                c["params"].clone(),
            )
        })
        .collect()
}

fn call(method: &str, params: Json) -> (String, Json) {
    (method.to_string(), params)
}

/// conversations.list's arguments, from `cursor`.
fn list(cursor: &str) -> (String, Json) {
    call(
        "conversations.list",
        json!({"types": "public_channel,private_channel", "limit": "200",
               "exclude_archived": "true", "cursor": cursor}),
    )
}

fn post(channel: &str, text: &str) -> (String, Json) {
    call(
        "chat.postMessage",
        json!({"channel": channel, "text": text}),
    )
}

/// A single failed attempt that is not retried; its error.
fn failed_for_good(history: &Json) -> String {
    assert_eq!(history["run"]["state"], "failed", "{history}");
    assert_eq!(
        attempts(history),
        [json!({"step_id": "post", "attempt": 1, "state": "failed", "retryable": false})]
    );
    history["steps"][0]["error"].as_str().unwrap().to_string()
}

#[test]
fn a_channel_name_is_resolved_once_per_process_and_messages_are_posted() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    k.write(
        "automations/announce.yaml",
        r##"
name: announce
trigger: manual
steps:
  - id: alert
    send_slack_message:
      channel: "#it-alerts"
      message: "{{ ctx.trigger.user.display_name }} left: revoke access"
  - id: again
    send_slack_message: { channel: it-alerts, message: second }
  - id: general
    send_slack_message: { channel: "#general", message: third }
"##,
    );
    let (code, history) = k.run_json("announce", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    let outputs = &history["run"]["outputs"];
    assert_eq!(
        outputs["alert"],
        json!({"channel": "C0ITALERTS", "ts": "1700000000.000001", "via": "slack"})
    );
    assert_eq!(
        outputs["again"],
        json!({"channel": "C0ITALERTS", "ts": "1700000000.000002", "via": "slack"})
    );
    assert_eq!(
        outputs["general"],
        json!({"channel": "C0GENERAL", "ts": "1700000000.000003", "via": "slack"})
    );
    // One channel listing for the three steps: the names are remembered.
    assert_eq!(
        calls(&server),
        [
            list(""),
            post("C0ITALERTS", "Ada Lovelace left: revoke access"),
            post("C0ITALERTS", "second"),
            post("C0GENERAL", "third"),
        ]
    );
    let messages: Vec<(Json, Json)> = server
        .messages()
        .into_iter()
        .map(|m| (m["channel"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                json!("C0ITALERTS"),
                json!("Ada Lovelace left: revoke access")
            ),
            (json!("C0ITALERTS"), json!("second")),
            (json!("C0GENERAL"), json!("third")),
        ]
    );

    // A new process lists the channels again.
    let (code, history) = k.run_json("announce", r#"{"user_id": "u-ken"}"#);
    assert_eq!(code, 0, "{history}");
    let listings = calls(&server)
        .iter()
        .filter(|(m, _)| m == "conversations.list")
        .count();
    assert_eq!(listings, 2);
}

#[test]
fn a_channel_on_the_second_page_is_found_and_not_in_channel_fails_with_a_hint() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    one_step(&k, "random", r##"channel: "#random", message: hello"##);
    let (code, history) = k.run_json("random", "{}");
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        failed_for_good(&history),
        "Slack chat.postMessage: not_in_channel (invite the bot to the channel)"
    );
    // #random is on page 2: the second listing carries the cursor page 1
    // answered (base64 of `offset:2`).
    assert_eq!(
        calls(&server),
        [list(""), list(PAGE_2), post("C0RANDOM", "hello")]
    );
    let all = server.calls();
    assert_eq!(all[2]["error"], "not_in_channel");
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn an_unknown_channel_fails_for_good_with_a_hint() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    // By name: every page is read, then the step fails without posting.
    one_step(
        &k,
        "nowhere",
        r##"channel: "#no-such-channel", message: hello"##,
    );
    let (code, history) = k.run_json("nowhere", "{}");
    assert_eq!(code, 1, "{history}");
    let error = failed_for_good(&history);
    assert!(error.contains("channel_not_found"), "{error}");
    assert!(error.contains("#no-such-channel"), "{error}");
    assert_eq!(calls(&server), [list(""), list(PAGE_2)]);

    // By id: Slack itself says channel_not_found.
    one_step(&k, "byid", "channel: C0NOSUCH1, message: hello");
    let (code, history) = k.run_json("byid", "{}");
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        failed_for_good(&history),
        "Slack chat.postMessage: channel_not_found (no such channel, or the bot cannot see it)"
    );
    assert_eq!(calls(&server)[2..], [post("C0NOSUCH1", "hello")]);
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn direct_messages_go_to_directory_users_found_by_email() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    one_step(
        &k,
        "dm",
        r#"users: [u-ada, u-ken, subject], message: "Please review {{ ctx.trigger.user.display_name }}""#,
    );
    let (code, history) = k.run_json("dm", r#"{"user_id": "u-radia"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(
        history["run"]["outputs"]["post"],
        json!({
            "messages": [
                {"channel": "DU0ADA", "ts": "1700000000.000001", "user": "u-ada"},
                {"channel": "DU0KEN", "ts": "1700000000.000002", "user": "u-ken"},
                {"channel": "DU0RADIA", "ts": "1700000000.000003", "user": "u-radia"},
            ],
            "via": "slack",
        })
    );
    let text = "Please review Radia Perlman";
    let mut expected = Vec::new();
    for (email, slack_id) in [
        ("ada@example.com", "U0ADA"),
        ("ken@example.com", "U0KEN"),
        ("radia@example.com", "U0RADIA"),
    ] {
        expected.push(call("users.lookupByEmail", json!({"email": email})));
        expected.push(call("conversations.open", json!({"users": slack_id})));
        expected.push(post(&format!("D{slack_id}"), text));
    }
    assert_eq!(calls(&server), expected);
    assert_eq!(server.messages().len(), 3);
}

#[test]
fn a_directory_user_unknown_to_slack_fails_for_good() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    // linus@example.com has no Slack account.
    one_step(&k, "dm", "users: [u-linus], message: hello");
    let (code, history) = k.run_json("dm", "{}");
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        failed_for_good(&history),
        "Slack users.lookupByEmail: users_not_found (no Slack user has that email)"
    );
    assert_eq!(
        calls(&server),
        [call(
            "users.lookupByEmail",
            json!({"email": "linus@example.com"})
        )]
    );
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn a_429_is_waited_out_within_the_attempt() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    one_step(&k, "alert", "channel: C0GENERAL, message: hello");
    server.ratelimit("chat.postMessage", 1, 1);
    let (code, history) = k.run_json("alert", "{}");
    assert_eq!(code, 0, "{history}");
    // One attempt of the step: the wait (Retry-After: 1) happened inside it.
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "post", "attempt": 1, "state": "succeeded", "retryable": null})]
    );
    assert_between(
        attempt_seconds(&history["steps"][0]),
        1.0,
        10.0,
        "the attempt that waited out a 429",
    );
    assert_eq!(
        history["run"]["outputs"]["post"],
        json!({"channel": "C0GENERAL", "ts": "1700000000.000001", "via": "slack"})
    );
    let seen: Vec<(Json, Json, Json)> = server
        .calls()
        .iter()
        .map(|c| (c["method"].clone(), c["status"].clone(), c["error"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("chat.postMessage"), json!(429), json!("ratelimited")),
            (json!("chat.postMessage"), json!(200), json!(null)),
        ]
    );
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn still_rate_limited_after_three_tries_is_a_retryable_error() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    k.write(
        "automations/alert.yaml",
        "name: alert\ntrigger: manual\nsteps:\n  - id: post\n    \
         send_slack_message: { channel: C0GENERAL, message: hello }\n",
    );
    server.ratelimit("chat.postMessage", 3, 1);
    let (code, history) = k.run_json("alert", "{}");
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        attempts(&history),
        [json!({"step_id": "post", "attempt": 1, "state": "failed", "retryable": true})]
    );
    assert_eq!(
        history["steps"][0]["error"],
        "Slack chat.postMessage: rate limited (Retry-After 1s)"
    );
    let statuses: Vec<Json> = server.calls().iter().map(|c| c["status"].clone()).collect();
    assert_eq!(statuses, [json!(429), json!(429), json!(429)]);
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn a_wrong_token_is_invalid_auth_and_not_retried() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    k.env("SLACK_TOKEN", "xoxb-not-the-token");
    one_step(&k, "alert", r##"channel: "#it-alerts", message: hello"##);
    let (code, history) = k.run_json("alert", "{}");
    assert_eq!(code, 1, "{history}");
    assert_eq!(
        failed_for_good(&history),
        "Slack conversations.list: invalid_auth (check the bot token in slack.token)"
    );
    let all = server.calls();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["authorized"], false);
    assert_eq!(all[0]["error"], "invalid_auth");
    assert_eq!(server.messages(), Vec::<Json>::new());
}

#[test]
fn without_slack_messages_go_to_the_outbox() {
    let k = Keystep::with_examples();
    k.write(
        "automations/both.yaml",
        r##"
name: both
trigger: manual
steps:
  - id: alert
    send_slack_message: { channel: "#it-alerts", message: "{{ ctx.trigger.user.display_name }} left" }
  - id: dm
    send_slack_message: { users: [subject, u-ken], message: bye }
"##,
    );
    let (code, history) = k.run_json("both", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    let id = history["run"]["id"].as_i64().unwrap();
    let outputs = &history["run"]["outputs"];
    assert_eq!(outputs["alert"]["via"], "outbox");
    assert_eq!(outputs["alert"]["channel"], "#it-alerts");
    assert_eq!(outputs["dm"]["via"], "outbox");
    let outbox = k.path().join(".keystep/outbox");
    let read = |name: &str| -> Json {
        serde_json::from_slice(&std::fs::read(outbox.join(name)).unwrap()).unwrap()
    };
    assert_eq!(
        read(&format!("slack-{id}-alert-1.json")),
        json!({"to": {"channel": "#it-alerts"}, "text": "Ada Lovelace left"})
    );
    assert_eq!(
        read(&format!("slack-{id}-dm-1.json")),
        json!({"to": {"users": ["u-ada", "u-ken"]}, "text": "bye"})
    );
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 2);
}

#[test]
fn a_dry_run_shows_the_message_and_calls_nothing() {
    let server = SlackServer::start(TOKEN);
    let k = setup(&server);
    one_step(&k, "dm", "users: [subject, u-ken], message: bye");
    let out = k.json(&[
        "run",
        "dm",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert_eq!(
        out["runs"][0]["run"]["outputs"]["post"],
        json!({
            "dry_run": "would post this Slack message",
            "to": {"users": ["u-ada", "u-ken"]},
            "message": "bye",
        })
    );
    assert_eq!(server.calls(), Vec::<Json>::new());

    // Without [slack] a real run writes to the outbox; a dry run does not.
    std::fs::remove_file(k.path().join("keystep.toml")).unwrap();
    let out = k.json(&[
        "run",
        "dm",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert_eq!(
        out["runs"][0]["run"]["outputs"]["post"]["dry_run"],
        "would post this Slack message"
    );
    assert!(!k.path().join(".keystep/outbox").exists());
    let (code, history) = k.run_json("dm", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(history["run"]["outputs"]["post"]["via"], "outbox");
    assert!(k.path().join(".keystep/outbox").is_dir());
}

#[test]
fn exactly_one_of_channel_and_users_is_required() {
    let k = Keystep::with_examples();
    k.write(
        "automations/bad.yaml",
        r##"
name: bad
trigger: manual
steps:
  - id: both
    send_slack_message: { channel: "#general", users: [u-ada], message: hi }
  - id: neither
    send_slack_message: { message: hi }
"##,
    );
    let ran = k.run(&["validate", "automations/bad.yaml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .chain(ran.stdout.lines())
        .filter(|l| l.contains("needs `channel` or `users`"))
        .collect();
    assert_eq!(lines.len(), 2, "{ran:?}");
    assert!(
        lines[0].starts_with("automations/bad.yaml:5:5: "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("automations/bad.yaml:7:5: "),
        "{lines:?}"
    );
}
