//! Finding `keystep.toml` (`--config`, then `$KEYSTEP_CONFIG`, then
//! `./keystep.toml`), paths in it relative to the file (`[store]`,
//! `[automations]`, `[outbox]`, `file:` secrets), and automations found by
//! their `name:` rather than their file name.

use keystep_tests::{Keystep, WebhookReceiver};
use serde_json::json;

/// A config in `conf/` whose every path is relative: the store in
/// `conf/data/`, automations in `conf/flows/`, the outbox in `conf/mail/`.
const CONFIG: &str = r#"
[store]
path = "data/keystep.db"

[automations]
dirs = ["flows"]

[outbox]
path = "mail"
"#;

/// In `conf/flows/goodbye-mail.yaml`: found by its name, not its file's.
const SAY_BYE: &str = r#"
name: say-bye
trigger: manual
steps:
  - id: mail
    send_email: { to: [subject], subject: Bye, message: Thanks. }
"#;

const DIRECTORY: &str = "users:\n  - { id: u-ada, display_name: Ada, email: ada@example.com }\n";

fn setup() -> Keystep {
    let k = Keystep::new();
    k.write("conf/keystep.toml", CONFIG);
    k.write("conf/flows/goodbye-mail.yaml", SAY_BYE);
    k.write("directory.yaml", DIRECTORY);
    // Decoys where the defaults would look: never read.
    k.write(
        "automations/goodbye-mail.yaml",
        "name: say-bye\ntrigger: manual\nsteps: []\n",
    );
    k
}

/// Runs `say-bye` for Ada with `args` before the command (e.g. `--config
/// FILE`), from `dir` (relative to the working directory); returns the
/// path of the mail it wrote.
fn say_bye(k: &Keystep, dir: &str, config: &[&str]) -> String {
    let mut args: Vec<&str> = config.to_vec();
    args.extend([
        "--json",
        "run",
        "say-bye",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    let out = k
        .command(&args)
        .current_dir(k.path().join(dir))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mail = &history["run"]["outputs"]["mail"];
    assert_eq!(mail["via"], "outbox", "{history}");
    mail["path"].as_str().unwrap().to_string()
}

#[test]
fn config_flag_paths_are_relative_to_the_file() {
    let k = setup();
    k.ok(&[
        "--config",
        "conf/keystep.toml",
        "directory",
        "import",
        "directory.yaml",
    ]);
    let path = say_bye(&k, ".", &["--config", "conf/keystep.toml"]);
    assert!(path.ends_with("conf/mail/email-1-mail-1.eml"), "{path}");
    let root = k.path();
    assert!(root.join("conf/data/keystep.db").is_file());
    assert!(root.join("conf/mail/email-1-mail-1.eml").is_file());
    assert!(
        !root.join(".keystep").exists(),
        "the default store is not used"
    );
    assert!(!root.join("conf/.keystep").exists());
    // The same store is read back: one run, found by name from conf/flows.
    let runs = k.json(&["--config", "conf/keystep.toml", "runs", "list"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["automation"], "say-bye");
}

#[test]
fn keystep_config_is_read_from_any_working_directory() {
    let k = setup();
    std::fs::create_dir_all(k.path().join("elsewhere/deeper")).unwrap();
    let file = k.path().join("conf/keystep.toml");
    k.env("KEYSTEP_CONFIG", file.to_str().unwrap());
    k.ok(&["directory", "import", "directory.yaml"]);
    say_bye(&k, "elsewhere/deeper", &[]);
    // A relative $KEYSTEP_CONFIG is relative to the working directory, and
    // the paths in it to the file.
    k.env("KEYSTEP_CONFIG", "../../conf/keystep.toml");
    let path = say_bye(&k, "elsewhere/deeper", &[]);
    assert!(path.ends_with("conf/mail/email-2-mail-1.eml"), "{path}");
    assert_eq!(
        std::fs::read_dir(k.path().join("conf/mail"))
            .unwrap()
            .count(),
        2
    );
    assert!(!k.path().join("elsewhere/deeper/.keystep").exists());
    assert!(!k.path().join(".keystep").exists());
    // --config wins over $KEYSTEP_CONFIG.
    k.write("other/keystep.toml", "[store]\npath = \"other.db\"\n");
    let ran = k.run(&["--config", "other/keystep.toml", "--json", "runs", "list"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json(), json!([]));
    assert!(k.path().join("other/other.db").is_file());
}

#[test]
fn a_file_secret_is_read_relative_to_the_config_file() {
    let receiver = WebhookReceiver::start("whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=");
    let k = setup();
    k.write(
        "conf/keystep.toml",
        &format!(
            "{CONFIG}\n[webhooks.hr]\nurl = \"{}\"\nsecret = \"file:secrets/hr\"\n",
            receiver.url("/hook")
        ),
    );
    // Trailing line breaks are not part of the secret.
    k.write(
        "conf/secrets/hr",
        "whsec_a2V5c3RlcCB3ZWJob29rIHRlc3RzOiBociBrZXk=\n",
    );
    k.write(
        "conf/flows/tell.yaml",
        "name: tell\ntrigger: manual\nsteps:\n  - id: tell\n    \
         run_webhook: { webhook: hr, payload: { left: u-ada } }\n",
    );
    k.ok(&[
        "--config",
        "conf/keystep.toml",
        "directory",
        "import",
        "directory.yaml",
    ]);
    let ran = k.run(&["--config", "conf/keystep.toml", "--json", "run", "tell"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    // The receiver verified the signature made with the file's secret.
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["body"], json!({"left": "u-ada"}));

    // A missing file fails the step and names the file.
    std::fs::remove_file(k.path().join("conf/secrets/hr")).unwrap();
    let ran = k.run(&["--config", "conf/keystep.toml", "--json", "run", "tell"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json()["steps"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("conf/secrets/hr"), "{error}");
    assert_eq!(receiver.deliveries().len(), 1);
}

#[test]
fn a_plugin_file_secret_is_read_relative_to_its_grant_file() {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", "keyed");
    k.write(
        "plugins/keyed.toml",
        "secrets = { key = \"file:keys/key.txt\" }\n",
    );
    k.write("plugins/keys/key.txt", "twelve chars\n");
    let ran = k.run(&[
        "--json",
        "call",
        "keyed",
        "--input",
        r#"{"do": "secret", "name": "key"}"#,
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json(), json!({"length": 12}));
}

#[test]
fn an_automation_is_found_by_file_name_or_by_its_name_field() {
    let k = Keystep::new();
    k.write("directory.yaml", DIRECTORY);
    k.ok(&["directory", "import", "directory.yaml"]);
    k.write(
        "automations/quarterly.yaml",
        "name: quarterly-cleanup\ntrigger: manual\nsteps:\n  - id: off\n    \
         modify_user_status: { user: subject, status: disabled }\n",
    );
    k.write(
        "automations/by-file.yaml",
        "name: by-file\ntrigger: manual\nsteps:\n  - id: off\n    \
         modify_user_status: { user: subject, status: inactive }\n",
    );
    let (code, history) = k.run_json("quarterly-cleanup", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(history["run"]["automation"], "quarterly-cleanup");
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "disabled"
    );
    let (code, history) = k.run_json("by-file", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "inactive"
    );
    let ran = k.run(&["run", "quarterly"]);
    assert_eq!(
        ran.code, 2,
        "the file name is not the automation's name: {ran:?}"
    );
}
