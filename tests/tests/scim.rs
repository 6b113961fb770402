//! The SCIM connector (`plugins/scim`) against a real SCIM 2.0 server
//! (`scim2-server` from PyPI): onboarding and offboarding through the
//! `keystep` binary, the server's state read over HTTP directly; re-runs
//! that change nothing; a 409 on create linked; a wrong token; an action
//! on the account the directory links to a user; and two instances of the
//! one component, each with its own server and token.

mod support;

use keystep_tests::{Keystep, ScimServer};
use serde_json::json;
use support::*;

const ZOOM_TOKEN: &str = "zoom-token-0123456789abcdef";
const JIRA_TOKEN: &str = "jira-token-fedcba9876543210";

/// A working directory with `plugins/scim.wasm`, the instance `zoom`
/// (plugins/zoom.toml) serving `server`, and the app `zoom` whose
/// entitlements are the memberships of `groups` on it (and `more` apps).
fn with_zoom(server: &ScimServer, groups: &[&str], more: &[(&str, &[&str])]) -> Keystep {
    let k = Keystep::new();
    k.with_plugins(&["scim"]);
    k.write("plugins/zoom.toml", &server.instance("ZOOM_TOKEN"));
    k.env("ZOOM_TOKEN", ZOOM_TOKEN);
    let mut apps = vec![("zoom", groups)];
    apps.extend_from_slice(more);
    k.write("directory.yaml", &directory(&apps));
    k.ok(&["directory", "import", "directory.yaml"]);
    k
}

/// Ada and Alan, and each app served by the connector instance of its
/// name, with one entitlement per SCIM group id.
fn directory(apps: &[(&str, &[&str])]) -> String {
    let mut text = "users:\n  \
         - { id: u-ada, display_name: Ada Lovelace, email: ada@example.com, username: ada }\n  \
         - { id: u-alan, display_name: Alan Turing, email: alan@example.com, username: alan }\n\
         apps:\n"
        .to_string();
    for (app, groups) in apps {
        text +=
            &format!("  - id: {app}\n    name: {app}\n    connector: {app}\n    entitlements:\n");
        for g in *groups {
            text += &format!("      - {{ slug: \"group:{g}:member\", name: \"{g}\" }}\n");
        }
    }
    text
}

const ONBOARD: &str = r#"
name: onboard
trigger: manual
steps:
  - id: account
    create_account: { connector: zoom, method: from_user, user: subject, credential: sso }
  - id: groups
    grant_entitlements: { user: subject, entitlements: all_of_app_zoom }
"#;

const OFFBOARD: &str = r#"
name: offboard
trigger: manual
steps:
  - id: groups
    revoke_entitlements: { user: subject, entitlements: all }
  - id: disable
    perform_connector_action: { connector: zoom, action: disable_account, user: subject }
"#;

/// ONBOARD naming each group's entitlement.
fn onboard(app: &str, groups: &[&str]) -> String {
    let all: Vec<String> = groups
        .iter()
        .map(|g| format!("\"{app}:group:{g}:member\""))
        .collect();
    ONBOARD
        .replace("all_of_app_zoom", &format!("[{}]", all.join(", ")))
        .replace("zoom", app)
}

#[test]
fn onboarding_creates_the_account_and_adds_it_to_groups_and_offboarding_undoes_it() {
    let server = ScimServer::start(ZOOM_TOKEN);
    let (eng, ops) = (server.add_group("eng"), server.add_group("ops"));
    let k = with_zoom(&server, &[&eng, &ops], &[]);
    k.write("automations/onboard.yaml", &onboard("zoom", &[&eng, &ops]));
    k.write("automations/offboard.yaml", OFFBOARD);

    let (code, history) = run(&k, "onboard", "u-ada");
    assert_eq!(code, 0, "{history}");
    let user = server
        .user("ada")
        .expect("the account was created on the server");
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["emails"][0]["value"], "ada@example.com");
    assert_eq!(user["active"], true);
    assert_eq!(server.members(&eng), std::slice::from_ref(&id));
    assert_eq!(server.members(&ops), std::slice::from_ref(&id));
    let outputs = &history["run"]["outputs"];
    assert_eq!(outputs["account"]["account_id"], id.as_str());
    assert_eq!(outputs["account"]["already_existed"], false);
    assert_eq!(
        k.count("SELECT count(*) FROM accounts WHERE user_id = 'u-ada' AND app_id = 'zoom'"),
        1
    );
    assert_eq!(held(&k, "u-ada").len(), 2);

    // Again: the account is found and linked (a 409), the memberships are
    // there already, and the server is as it was.
    let (code, again) = run(&k, "onboard", "u-ada");
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["run"]["outputs"]["account"]["already_existed"], true);
    assert_eq!(
        again["run"]["outputs"]["account"]["account_id"],
        id.as_str()
    );
    assert_eq!(server.members(&eng), std::slice::from_ref(&id));
    let (_, users) = server.request("GET", "/Users", &json!(null));
    assert_eq!(users["totalResults"], 1, "{users}");

    let input = json!({"user_id": "u-ada", "account_id": id}).to_string();
    let ran = k.run(&["--json", "run", "offboard", "--input", &input]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(server.members(&eng).is_empty());
    assert!(server.members(&ops).is_empty());
    assert_eq!(server.user("ada").unwrap()["active"], false);
    assert!(held(&k, "u-ada").is_empty());

    // Offboarding again changes nothing and succeeds.
    let ran = k.run(&["--json", "run", "offboard", "--input", &input]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(server.user("ada").unwrap()["active"], false);
}

#[test]
fn an_action_for_a_user_with_no_account_in_the_app_fails_and_sends_nothing() {
    let server = ScimServer::start(ZOOM_TOKEN);
    let eng = server.add_group("eng");
    let k = with_zoom(&server, &[&eng], &[]);
    k.write("automations/offboard.yaml", OFFBOARD);
    let (code, history) = run(&k, "offboard", "u-alan");
    assert_eq!(code, 1, "{history}");
    let error = history["run"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("user `u-alan` has no account in app `zoom`"),
        "{history}"
    );
    let (_, users) = server.request("GET", "/Users", &json!(null));
    assert_eq!(users["totalResults"], 0, "{users}");
}

#[test]
fn an_account_the_server_already_has_is_linked_not_failed() {
    let server = ScimServer::start(ZOOM_TOKEN);
    let eng = server.add_group("eng");
    let existing = server.add_user("alan");
    let k = with_zoom(&server, &[&eng], &[]);
    k.write("automations/onboard.yaml", &onboard("zoom", &[&eng]));
    let (code, history) = run(&k, "onboard", "u-alan");
    assert_eq!(code, 0, "{history}");
    let account = &history["run"]["outputs"]["account"];
    assert_eq!(account["already_existed"], true);
    assert_eq!(account["account_id"], existing.as_str());
    assert_eq!(server.members(&eng), [existing]);
}

#[test]
fn a_wrong_token_fails_clearly_once_and_never_shows() {
    let server = ScimServer::start(ZOOM_TOKEN);
    let eng = server.add_group("eng");
    let k = with_zoom(&server, &[&eng], &[]);
    k.env("ZOOM_TOKEN", "not-the-token-at-all-0000");
    k.write(
        "automations/onboard.yaml",
        &onboard("zoom", &[&eng]).replace(
            "credential: sso }",
            "credential: sso }\n    retry: { attempts: 3, backoff: 1s }",
        ),
    );
    let (code, history) = run(&k, "onboard", "u-ada");
    assert_eq!(code, 1, "{history}");
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "a 401 is not retried: {history}");
    let error = steps[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("plugin `zoom`: unauthorized: scim: POST /Users answered 401"),
        "{error}"
    );
    assert!(!history.to_string().contains("not-the-token-at-all"));
    assert!(server.user("ada").is_none());
}

#[test]
fn two_instances_of_one_component_each_reach_only_their_own_server_with_their_own_token() {
    let (zoom, jira) = (ScimServer::start(ZOOM_TOKEN), ScimServer::start(JIRA_TOKEN));
    let (zoom_eng, jira_dev) = (zoom.add_group("eng"), jira.add_group("dev"));
    let k = with_zoom(&zoom, &[&zoom_eng], &[("jira", &[&jira_dev])]);
    k.write("plugins/jira.toml", &jira.instance("JIRA_TOKEN"));
    k.env("JIRA_TOKEN", JIRA_TOKEN);
    let both = format!(
        "{}  - id: jira_account\n    create_account: {{ connector: jira, method: from_user, user: subject }}\n  \
         - id: jira_groups\n    grant_entitlements: {{ user: subject, entitlements: [\"jira:group:{jira_dev}:member\"] }}\n",
        onboard("zoom", &[&zoom_eng])
    );
    k.write("automations/onboard.yaml", &both);
    let (code, history) = run(&k, "onboard", "u-ada");
    assert_eq!(code, 0, "{history}");
    let (on_zoom, on_jira) = (zoom.user("ada").unwrap(), jira.user("ada").unwrap());
    assert_eq!(zoom.members(&zoom_eng), [on_zoom["id"].as_str().unwrap()]);
    assert_eq!(jira.members(&jira_dev), [on_jira["id"].as_str().unwrap()]);

    let list = k.json(&["plugins", "list"]);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("scim"), json!("jira"), json!("zoom")],
        "{list}"
    );

    // Each instance's grants are its own: pointed at the other's server,
    // zoom is refused by its allowlist and nothing reaches that server.
    let before = jira.user("alan");
    k.write(
        "automations/cross.yaml",
        "name: cross\ntrigger: manual\nsteps:\n  - id: account\n    \
         create_account: { connector: zoom, method: from_user, user: subject }\n",
    );
    let zoom_grants = zoom.instance("ZOOM_TOKEN");
    let crossed = zoom_grants.replace(
        &format!("base_url = \"{}\"", zoom.url()),
        &format!("base_url = \"{}\"", jira.url()),
    );
    k.write("plugins/zoom.toml", &crossed);
    let (code, history) = run(&k, "cross", "u-alan");
    assert_eq!(code, 1, "{history}");
    let error = history["steps"][0]["error"].as_str().unwrap();
    assert!(error.contains("denied"), "{error}");
    assert_eq!(
        jira.user("alan"),
        before,
        "nothing reached the other server"
    );
    assert!(!history.to_string().contains(JIRA_TOKEN) && !history.to_string().contains(ZOOM_TOKEN));
}

#[test]
fn set_attributes_through_keystep_invoke_changes_the_servers_user() {
    let server = ScimServer::start(ZOOM_TOKEN);
    let id = server.add_user("ada");
    let eng = server.add_group("eng");
    let k = with_zoom(&server, &[&eng], &[]);
    let args = json!({"account_id": id, "attributes": {"title": "Principal Engineer"}});
    let out = k.ok(&[
        "invoke",
        "zoom",
        "set_attributes",
        "--args",
        &args.to_string(),
    ]);
    let account: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(account["id"], id.as_str(), "{account}");
    assert_eq!(server.user("ada").unwrap()["title"], "Principal Engineer");
    // No attribute at all does not fit the action's schema: refused, sent nowhere.
    let empty = json!({"account_id": id, "attributes": {}});
    let ran = k.run(&[
        "invoke",
        "zoom",
        "set_attributes",
        "--args",
        &empty.to_string(),
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("fewer than 1 properties"),
        "{}",
        ran.stderr
    );
    assert_eq!(server.user("ada").unwrap()["title"], "Principal Engineer");
}
