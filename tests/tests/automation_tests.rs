//! `keystep test`: the example automations' own test cases pass; a broken
//! expectation fails with what differed and exit 1; an email a case would
//! send reaches no SMTP server; a test file that does not parse says where.

use std::net::TcpListener;

use keystep_tests::{Keystep, repo};

/// A working directory with the examples: automations and their tests,
/// the directory, and the plugins they use (the `zoom` instance too).
fn examples() -> Keystep {
    let k = Keystep::with_examples();
    k.with_plugins(&["scim", "risk-rust"]);
    let zoom = std::fs::read_to_string(repo().join("examples/plugins/zoom.toml")).unwrap();
    k.write("plugins/zoom.toml", &zoom);
    k
}

#[test]
fn the_example_automations_pass_their_tests_and_a_broken_expectation_fails_readably() {
    let k = examples();
    let ran = k.run(&["test"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("12 passed, 0 failed"), "{}", ran.stdout);
    assert!(ran.stdout.contains("✓ Ada is disabled"), "{}", ran.stdout);

    let json = k
        .run(&["--json", "test", "automations/access-risk.test.yaml"])
        .json();
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(3), Some(0)),
        "{json}"
    );

    let broken = std::fs::read_to_string(k.path().join("automations/onboarding.test.yaml"))
        .unwrap()
        .replace(
            "activate: { new_status: active }",
            "activate: { new_status: disabled }",
        );
    k.write("automations/onboarding.test.yaml", &broken);
    let ran = k.run(&["test", "automations/onboarding.test.yaml"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout
            .contains(r#"outputs.activate.new_status: expected "disabled", got "active""#),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("1 passed, 1 failed"), "{}", ran.stdout);
}

#[test]
fn an_email_a_case_would_send_reaches_no_smtp_server() {
    let k = examples();
    let smtp = TcpListener::bind("127.0.0.1:0").unwrap();
    smtp.set_nonblocking(true).unwrap();
    let port = smtp.local_addr().unwrap().port();
    k.write(
        "keystep.toml",
        &format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"keystep@example.com\"\n"),
    );
    let ran = k.run(&["--json", "test", "automations/offboarding.test.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let sent = ran.json();
    assert_eq!(sent["passed"], 2, "{sent}");
    assert!(
        smtp.accept().is_err(),
        "no connection reached the SMTP listener"
    );
    assert!(
        !k.path().join(".keystep/outbox").exists(),
        "nothing went to the outbox either"
    );
}

#[test]
fn a_test_file_that_does_not_parse_says_where_and_fails() {
    let k = examples();
    k.write(
        "automations/onboarding.test.yaml",
        "cases:\n  - name: x\n    expect: { stat: succeeded }\n",
    );
    let ran = k.run(&["test", "automations/onboarding.test.yaml"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout.contains("onboarding.test.yaml:3:"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("unknown field `stat`"),
        "{}",
        ran.stdout
    );
}

const CARRIED: &str = r#"
name: manager-notice
trigger: manual
steps:
  - id: disable
    if: size(directory.reports(ctx.trigger.user)) == 0
    modify_user_status: { user: subject, status: disabled }
output:
  manager: "{{ directory.manager(ctx.trigger.user).id }}"
tests:
  directory:
    users:
      - { id: u-boss, display_name: Boss }
      - { id: u-dev, display_name: Dev, manager: u-boss }
  cases:
    - name: a manager keeps access
      input: { user_id: u-boss }
      expect:
        steps: { disable: skipped }
        directory: { users: { u-boss: { status: active } } }
    - name: someone without reports is disabled
      input: { user_id: u-dev }
      expect:
        steps: { disable: succeeded }
        output: { manager: u-boss }
        directory: { users: { u-dev: { status: disabled } } }
"#;

#[test]
fn tests_carried_in_the_automation_file_run_and_fail_like_any() {
    let k = examples();
    k.write("automations/manager-notice.yaml", CARRIED);
    // The engine ignores `tests:`: the file is a valid automation.
    k.ok(&["validate"]);
    let ran = k.run(&["test"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("14 passed, 0 failed"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("✓ a manager keeps access"),
        "{}",
        ran.stdout
    );

    k.write(
        "automations/manager-notice.yaml",
        &CARRIED.replace("output: { manager: u-boss }", "output: { manager: u-dev }"),
    );
    let ran = k.run(&["test", "automations/manager-notice.yaml"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout
            .contains(r#"output.manager: expected "u-dev", got "u-boss""#),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("1 passed, 1 failed"), "{}", ran.stdout);

    // `automation:` has no place in an automation's own tests.
    k.write(
        "automations/manager-notice.yaml",
        &CARRIED.replace("tests:\n", "tests:\n  automation: onboarding\n"),
    );
    let ran = k.run(&["test", "automations/manager-notice.yaml"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout.contains("`automation:` does not belong"),
        "{ran:?}"
    );
}
