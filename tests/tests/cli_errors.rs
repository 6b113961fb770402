//! The CLI when things go wrong around it: usage errors under `--json`, a
//! closed pipe, a full disk, bad options, inputs too large for the command
//! line, damaged store rows, and Ctrl-C pressed twice during a long step.

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use keystep_tests::Keystep;
use serde_json::json;

/// One step that sends mail: with an SMTP server that never answers, a long
/// step.
const MAIL: &str = r#"
name: mail
trigger: manual
steps:
  - id: mail
    send_email: { to: subject, subject: Hi, message: Hello. }
"#;

fn kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_errors_are_json_under_json() {
    let k = Keystep::new();
    for (args, says) in [
        (&["--json", "runs", "frobnicate"][..], "frobnicate"),
        (&["runs", "list", "--json", "--state", "bogus"][..], "bogus"),
        (&["--json", "run"][..], "<AUTOMATION>"),
    ] {
        let ran = k.run(args);
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        let error = ran.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(says), "{args:?}: {error}");
        assert!(!error.starts_with("error:"), "{error}");
    }
    // Without --json, clap's own text on stderr, as before.
    let ran = k.run(&["runs", "frobnicate"]);
    assert_eq!(ran.code, 2);
    assert!(ran.stdout.is_empty(), "{ran:?}");
    assert!(ran.stderr.contains("unrecognized subcommand"), "{ran:?}");
    // Help and the version still print, and succeed.
    let ran = k.run(&["--help"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("Usage: keystep"), "{ran:?}");
    let ran = k.run(&["--json", "--version"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.starts_with("keystep "), "{ran:?}");
}

#[test]
fn runs_list_refuses_an_unknown_state() {
    let k = Keystep::new();
    let ran = k.run(&["runs", "list", "--state", "bogus"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("'bogus'"), "{}", ran.stderr);
    assert!(ran.stderr.contains("succeeded"), "{}", ran.stderr);
    k.ok(&["runs", "list", "--state", "succeeded"]);
}

#[test]
fn a_closed_pipe_ends_printing_not_the_command() {
    let k = Keystep::with_examples();
    for args in [
        &["runs", "list"][..],
        &["--json", "directory", "show", "u-ada"][..],
        &[
            "run",
            "offboarding",
            "--follow",
            "0s",
            "--input",
            r#"{"user_id": "u-ada"}"#,
        ][..],
    ] {
        let mut child = k
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before keystep writes anything (`| head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        no_panic(&stderr);
    }
    // The run went on to its wait although nobody read its progress.
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'waiting'"),
        1
    );
    assert_eq!(
        k.count("SELECT count(*) FROM users WHERE id = 'u-ada' AND status = 'disabled'"),
        1
    );
}

#[test]
fn a_full_disk_for_the_output_fails_the_command_with_a_message() {
    let k = Keystep::with_examples();
    for args in [
        &["runs", "list"][..],
        &["--json", "directory", "show", "u-ada"][..],
        &["--help"][..],
        &["validate"][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = k
            .command(args)
            .stdout(full)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write the output") && stderr.contains("No space left"),
            "{args:?}: {stderr}"
        );
        no_panic(&stderr);
    }
    // An error whose JSON cannot be written still shows, on stderr.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = k
        .command(&["--json", "runs", "show", "999"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: no run 999"), "{stderr}");
}

#[test]
fn input_comes_from_a_file_or_standard_input_beyond_the_argument_limit() {
    let k = Keystep::with_examples();
    k.write(
        "automations/echo.yaml",
        "name: echo\ntrigger: manual\nsteps:\n  - id: status\n    modify_user_status: { user: subject, status: inactive }\n",
    );
    // Larger than one command-line argument may be (128 KiB on Linux).
    let padding = "x".repeat(300 * 1024);
    let input = json!({ "user_id": "u-ada", "padding": padding }).to_string();
    let inline = k.command(&["run", "echo", "--input", &input]).output();
    assert!(inline.is_err(), "the kernel refuses an argument this long");
    k.write("input.json", &input);
    let ran = k.run(&["--json", "run", "echo", "--input", "@input.json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let trigger = &ran.json()["run"]["trigger"];
    assert_eq!(trigger["padding"].as_str().map(str::len), Some(300 * 1024));

    let mut child = k
        .command(&["--json", "run", "echo", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            json!({ "user_id": "u-linus", "padding": padding })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        k.count(
            "SELECT count(*) FROM users WHERE status = 'inactive' AND id IN ('u-ada', 'u-linus')"
        ),
        2
    );

    // A file that is not there, or not JSON, names itself; nothing starts.
    let ran = k.run(&["run", "echo", "--input", "@missing.json"]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("missing.json"), "{}", ran.stderr);
    k.write("bad.json", "{\n  \"user_id\": \n");
    let ran = k.run(&["run", "echo", "--input", "@bad.json"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("bad.json is not valid JSON") && ran.stderr.contains("line 3"),
        "{}",
        ran.stderr
    );
    assert_eq!(k.count("SELECT count(*) FROM runs"), 2);
}

#[test]
fn a_row_with_invalid_utf8_does_not_break_the_listing() {
    let k = Keystep::with_examples();
    k.write("automations/mail.yaml", MAIL);
    k.ok(&["run", "mail", "--input", r#"{"user_id": "u-ada"}"#]);
    k.ok(&["run", "mail", "--input", r#"{"user_id": "u-linus"}"#]);
    {
        let db = rusqlite::Connection::open(k.path().join(".keystep/keystep.db")).unwrap();
        db.execute_batch(
            "UPDATE runs SET error = CAST(x'6261ff64' AS TEXT) WHERE id = 1;
             UPDATE step_attempts SET error = CAST(x'6261ff64' AS TEXT) WHERE run_id = 1;",
        )
        .unwrap();
    }
    let list = k.json(&["runs", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let shown = k.show(1);
    assert_eq!(shown["run"]["error"], "ba\u{fffd}d");
    assert_eq!(shown["steps"][0]["error"], "ba\u{fffd}d");
    k.ok(&["runs", "list"]);
}

#[test]
fn store_errors_name_the_database_file() {
    let k = Keystep::new();
    k.write(
        ".keystep/keystep.db",
        &"this is not a database. ".repeat(200),
    );
    let ran = k.run(&["runs", "list"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains(".keystep/keystep.db") && ran.stderr.contains("not a database"),
        "{}",
        ran.stderr
    );
    let ran = k.run(&["--json", "runs", "list"]);
    let error = ran.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains(".keystep/keystep.db"), "{error}");
}

#[test]
fn a_second_ctrl_c_stops_a_long_step_at_once_and_the_run_resumes() {
    let k = Keystep::with_examples();
    k.write("automations/mail.yaml", MAIL);
    // An SMTP server that accepts and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let port = silent.local_addr().unwrap().port();
    k.write(
        "keystep.toml",
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"keystep@example.com\"\ntimeout_ms = 120000\n"
        ),
    );
    let mut child = k
        .command(&["run", "mail", "--input", r#"{"user_id": "u-ada"}"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let _connection = loop {
        match silent.accept() {
            Ok((connection, _)) => break connection,
            Err(_) => {
                assert!(Instant::now() < deadline, "keystep never connected");
                assert!(child.try_wait().unwrap().is_none(), "keystep ended early");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    // The first Ctrl-C asks to stop after the step; the step goes on.
    kill(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stopped on the first Ctrl-C"
    );
    // The second stops it now, long before the SMTP timeout.
    kill(child.id(), "INT");
    let stopped = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > stopped {
            let _ = child.kill();
            panic!("a second Ctrl-C did not stop keystep");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted again"), "{stderr}");
    assert_eq!(k.count("SELECT count(*) FROM runs"), 1);
    assert_eq!(k.count("SELECT count(*) FROM step_attempts"), 0);

    // Saved: with mail going to the outbox now, `runs resume` finishes it.
    std::fs::remove_file(k.path().join("keystep.toml")).unwrap();
    k.ok(&["runs", "resume"]);
    let shown = k.show(1);
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    assert_eq!(shown["run"]["outputs"]["mail"]["via"], "outbox");
}
