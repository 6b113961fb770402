//! The engine through the real binary: `if`, retry, timeout, `on_error`,
//! `run_automation` (waiting, cycles, depth), cancel, resume, pinning, exit
//! codes and dry runs.

use keystep_tests::{
    Keystep, OFFBOARDING_STEPS, assert_between, attempt_seconds, seconds_between, step_ids,
};
use serde_json::Value as Json;

fn states(steps: &[Json]) -> Vec<(String, u64, String)> {
    steps
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap().to_string(),
                s["attempt"].as_u64().unwrap(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn s(id: &str, attempt: u64, state: &str) -> (String, u64, String) {
    (id.to_string(), attempt, state.to_string())
}

/// Runs an automation in the foreground with `--json`; returns (exit code, history).
fn run(k: &Keystep, name: &str, input: &str) -> (i32, Json) {
    let ran = k.run(&["--json", "run", name, "--input", input]);
    assert!(ran.code == 0 || ran.code == 1, "{ran:?}");
    (ran.code, ran.json())
}

#[test]
fn if_skips_and_on_error_continues() {
    let k = Keystep::with_examples();
    k.write(
        "automations/branches.yaml",
        r#"
name: branches
trigger: manual
steps:
  - id: only_security
    if: ctx.trigger.user.department == "Security"
    modify_user_status: { user: subject, status: disabled }
  - id: only_engineering
    if: ctx.trigger.user.department == "Engineering"
    modify_user_status: { user: subject, status: disabled }
  - id: broken
    modify_user_status: { user: "{{ 'u-' + 'nobody' }}", status: disabled }
    on_error: continue
  - id: after
    modify_delegate: { user: subject }
"#,
    );
    let (code, history) = run(&k, "branches", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0);
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(
        states(steps),
        vec![
            s("only_security", 1, "skipped"),
            s("only_engineering", 1, "succeeded"),
            s("broken", 1, "failed"),
            s("after", 1, "succeeded")
        ]
    );
    assert!(
        steps[2]["error"]
            .as_str()
            .unwrap()
            .contains("unknown user `u-nobody`")
    );
    assert_eq!(
        history["run"]["outputs"]["broken"]["error"]
            .as_str()
            .unwrap(),
        steps[2]["error"].as_str().unwrap()
    );
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "disabled"
    );
    assert!(history["run"]["outputs"].get("only_security").is_none());
}

#[test]
fn a_failed_step_fails_the_run_with_exit_1_and_is_not_retried_when_not_retryable() {
    let k = Keystep::with_examples();
    k.write(
        "automations/fails.yaml",
        r#"
name: fails
trigger: manual
steps:
  - id: bad
    modify_user_status: { user: "{{ ctx.trigger.who }}", status: disabled }
    retry: { attempts: 3, backoff: 1s }
  - id: never
    modify_delegate: { user: subject }
"#,
    );
    let (code, history) = run(&k, "fails", r#"{"user_id": "u-ada", "who": "u-ghost"}"#);
    assert_eq!(code, 1);
    assert_eq!(history["run"]["state"], "failed");
    assert!(
        history["run"]["error"]
            .as_str()
            .unwrap()
            .contains("step `bad` failed: `user`: unknown user `u-ghost`")
    );
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(states(steps), vec![s("bad", 1, "failed")]);
    assert_eq!(steps[0]["retryable"], false);
    // Human output says the same and exits 1.
    let ran = k.run(&[
        "run",
        "fails",
        "--input",
        r#"{"user_id": "u-ada", "who": "u-ghost"}"#,
    ]);
    assert_eq!(ran.code, 1);
    assert!(
        ran.stdout.contains("✗ bad") && ran.stdout.contains("unknown user `u-ghost`"),
        "{}",
        ran.stdout
    );
}

/// Directory-only steps that follow one another settle in one writer job
/// (the first with its links). A link that fails undoes the job: the first
/// step settles alone and the failing one fails in its own transition. Each
/// step's changes happen once, under its own actor.
#[test]
fn directory_steps_settled_together_each_change_once_and_a_failing_one_fails_alone() {
    let k = Keystep::with_examples();
    k.write(
        "automations/together.yaml",
        r#"
name: together
trigger: manual
steps:
  - id: disable
    modify_user_status: { user: subject, status: disabled }
  - id: delegate
    modify_delegate: { user: subject, replacement: "{{ ctx.trigger.user.manager_id }}" }
  - id: reactivate
    modify_user_status: { user: subject, status: active }
  - id: ghost
    modify_user_status: { user: "{{ ctx.trigger.who }}", status: disabled }
    on_error: continue
  - id: inactive
    modify_user_status: { user: subject, status: inactive }
"#,
    );
    let (code, history) = run(&k, "together", r#"{"user_id": "u-ada", "who": "u-ghost"}"#);
    assert_eq!(code, 0, "{history}");
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(
        states(steps),
        vec![
            s("disable", 1, "succeeded"),
            s("delegate", 1, "succeeded"),
            s("reactivate", 1, "succeeded"),
            s("ghost", 1, "failed"),
            s("inactive", 1, "succeeded"),
        ]
    );
    assert!(
        steps[3]["error"]
            .as_str()
            .unwrap()
            .contains("unknown user `u-ghost`")
    );
    // The link rendered its input from the trigger: Ada's manager.
    assert_eq!(steps[1]["input"]["replacement"], "u-ken");
    let shown = k.json(&["directory", "show", "u-ada"]);
    assert_eq!(shown["user"]["status"], "inactive");
    // Every change once, under the actor of the step that made it; nothing
    // of the job the failing link undid is left twice.
    let run_id = history["run"]["id"].as_i64().unwrap();
    // (kind, subject) of each event an actor made.
    let events = |actor: &str| -> Vec<(String, String)> {
        let db = k.db();
        let mut q = db
            .prepare("SELECT kind, subject_id FROM events WHERE actor = ?1 ORDER BY seq")
            .unwrap();
        q.query_map([actor], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let once = |kind: &str| vec![(kind.to_string(), "u-ada".to_string())];
    for (step, expected) in [
        ("disable", once("user_updated")),
        ("reactivate", once("user_updated")),
        ("ghost", vec![]),
        ("inactive", once("user_updated")),
    ] {
        let actor = format!("run {run_id}/{step}/1");
        assert_eq!(events(&actor), expected, "events of {actor}");
    }
    // The delegate step re-points Ada's delegation and those made to her:
    // each user's once.
    let delegated = events(&format!("run {run_id}/delegate/1"));
    let mut users: Vec<&str> = delegated.iter().map(|(_, u)| u.as_str()).collect();
    users.sort();
    users.dedup();
    assert!(
        !delegated.is_empty() && users.len() == delegated.len(),
        "{delegated:?}"
    );
    assert!(delegated.iter().all(|(kind, _)| kind == "delegate_changed"));
    assert_eq!(
        k.count(&format!(
            "SELECT count(*) FROM events WHERE actor LIKE 'run {run_id}/%'"
        )),
        3 + delegated.len() as i64
    );
    assert_eq!(k.count("SELECT count(*) FROM step_attempts"), 5);
}

/// An automation's `output:` is its run's result: rendered when its steps
/// succeed, returned by `run_automation` with `wait: true`; one that cannot
/// be rendered fails the run; `validate` checks what it reads.
#[test]
fn an_output_is_the_runs_result_and_what_a_waiting_parent_gets() {
    let k = Keystep::with_examples();
    k.write(
        "automations/decide.yaml",
        r#"
name: decide
trigger: manual
steps:
  - id: hand_over
    modify_delegate: { user: subject, replacement: "{{ ctx.trigger.user.manager_id }}" }
output:
  approved: "{{ ctx.trigger.user.department == 'Engineering' }}"
  delegate: "{{ ctx.hand_over.replacement }}"
  note: decided
"#,
    );
    k.write(
        "automations/asks.yaml",
        r#"
name: asks
trigger: manual
steps:
  - id: ask
    run_automation: { automation: decide, wait: true, context: { user_id: "{{ ctx.trigger.user_id }}" } }
"#,
    );
    let (code, history) = run(&k, "decide", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    let delegate = history["steps"][0]["output"]["replacement"].clone();
    assert_eq!(
        history["run"]["output"],
        serde_json::json!({"approved": true, "delegate": delegate, "note": "decided"})
    );
    let (code, parent) = run(&k, "asks", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{parent}");
    assert_eq!(
        parent["steps"][0]["output"]["output"]["note"], "decided",
        "{parent}"
    );

    k.write(
        "automations/broken-output.yaml",
        "name: broken-output\ntrigger: manual\nsteps:\n  - id: a\n    modify_delegate: { user: subject }\noutput:\n  x: \"{{ ctx.trigger.nope.deeper }}\"\n",
    );
    let (code, failed) = run(&k, "broken-output", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{failed}");
    assert_eq!(failed["run"]["state"], "failed");
    assert!(
        failed["run"]["error"].as_str().unwrap().contains("output:"),
        "{failed}"
    );

    k.write(
        "automations/bad-output.yaml",
        "name: bad-output\ntrigger: manual\nsteps:\n  - id: a\n    modify_delegate: { user: subject }\noutput:\n  x: \"{{ ctx.b.y }}\"\n",
    );
    let ran = k.run(&["validate", "automations/bad-output.yaml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("output: ctx.b is not a step id"),
        "{ran:?}"
    );
}

/// A child that fails on its first attempt and succeeds on its second,
/// called by a parent that retries and waits for it.
fn flaky_pair(k: &Keystep, attempts: u32) {
    k.write(
        "automations/flaky.yaml",
        r#"
name: flaky
trigger: manual
steps:
  - id: act
    modify_user_status:
      user: "{{ ctx.trigger.attempt >= 2 ? ctx.trigger.user_id : 'u-nobody' }}"
      status: disabled
"#,
    );
    k.write(
        "automations/caller.yaml",
        &format!(
            r#"
name: caller
trigger: manual
steps:
  - id: call
    run_automation:
      automation: flaky
      context: {{ user_id: "{{{{ ctx.run.subject }}}}", attempt: "{{{{ ctx.run.attempt }}}}" }}
      wait: true
    retry: {{ attempts: {attempts}, backoff: 1s }}
  - id: done
    modify_delegate: {{ user: subject }}
"#
        ),
    );
}

#[test]
fn retry_runs_the_step_again_after_backoff_and_wait_true_returns_the_child_output() {
    let k = Keystep::with_examples();
    flaky_pair(&k, 3);
    let (code, history) = run(&k, "caller", r#"{"user_id": "u-linus"}"#);
    assert_eq!(code, 0, "{history}");
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(
        states(steps),
        vec![
            s("call", 1, "failed"),
            s("call", 2, "succeeded"),
            s("done", 1, "succeeded")
        ]
    );
    assert_eq!(steps[0]["retryable"], true);
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap()
            .contains("failed: step `act` failed")
    );
    // The second attempt started the backoff (1 s) after the first ended.
    let gap = seconds_between(
        steps[0]["finished_at"].as_str().unwrap(),
        steps[1]["started_at"].as_str().unwrap(),
    );
    assert_between(gap, 1.0, 10.0, "backoff before attempt 2");
    let output = &steps[1]["output"];
    assert_eq!(output["state"], "succeeded");
    assert_eq!(output["output"]["act"]["new_status"], "disabled");
    // Two child runs, the first failed.
    let children = history["run"]["children"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    let first = k.json(&["runs", "show", &children[0].to_string()]);
    assert_eq!(first["run"]["state"], "failed");
    assert_eq!(first["run"]["parent_run"], history["run"]["id"]);
}

#[test]
fn retries_stop_after_the_last_attempt() {
    let k = Keystep::with_examples();
    flaky_pair(&k, 1);
    let (code, history) = run(&k, "caller", r#"{"user_id": "u-linus"}"#);
    assert_eq!(code, 1);
    assert_eq!(
        states(history["steps"].as_array().unwrap()),
        vec![s("call", 1, "failed")]
    );
}

#[test]
fn timeout_fails_a_step_waiting_too_long_and_cancels_its_child() {
    let k = Keystep::with_examples();
    k.write(
        "automations/slow.yaml",
        "name: slow\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: 1h }\n",
    );
    k.write(
        "automations/impatient.yaml",
        r#"
name: impatient
trigger: manual
steps:
  - id: call
    run_automation: { automation: slow, wait: true }
    timeout: 1s
  - id: also_waits
    wait: { duration: 1h }
    timeout: 1s
    on_error: continue
"#,
    );
    let (code, history) = run(&k, "impatient", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 1, "{history}");
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(states(steps), vec![s("call", 1, "failed")]);
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s")
    );
    assert_between(attempt_seconds(&steps[0]), 1.0, 10.0, "the timed-out call");
    let child = history["run"]["children"][0].as_i64().unwrap();
    let child = k.json(&["runs", "show", &child.to_string()]);
    assert_eq!(child["run"]["state"], "cancelled");
    assert!(
        child["run"]["error"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );

    // A timer step with a shorter timeout, continuing on error.
    k.write(
        "automations/impatient.yaml",
        "name: impatient\ntrigger: manual\nsteps:\n  - id: also_waits\n    wait: { duration: 1h }\n    timeout: 1s\n    on_error: continue\n  - id: after\n    modify_delegate: { user: subject }\n",
    );
    let (code, history) = run(&k, "impatient", r#"{"user_id": "u-ada"}"#);
    assert_eq!(code, 0, "{history}");
    let steps = history["steps"].as_array().unwrap();
    assert_eq!(
        states(steps),
        vec![s("also_waits", 1, "failed"), s("after", 1, "succeeded")]
    );
    assert_between(attempt_seconds(&steps[0]), 1.0, 10.0, "the timed-out wait");
}

#[test]
fn run_automation_refuses_cycles_and_runaway_depth_at_run_time() {
    let k = Keystep::with_examples();
    // The target is an expression, so only the running engine can see the cycle.
    k.write(
        "automations/ping.yaml",
        "name: ping\ntrigger: manual\nsteps:\n  - id: call\n    run_automation: { automation: \"{{ ctx.trigger.next }}\", context: { next: ping }, wait: true }\n",
    );
    k.write(
        "automations/pong.yaml",
        "name: pong\ntrigger: manual\nsteps:\n  - id: call\n    run_automation: { automation: \"{{ ctx.trigger.next }}\", context: { next: pong }, wait: true }\n",
    );
    let (code, history) = run(&k, "ping", r#"{"next": "pong"}"#);
    assert_eq!(code, 1);
    let child = history["run"]["children"][0].as_i64().unwrap();
    let child = k.json(&["runs", "show", &child.to_string()]);
    assert!(
        child["run"]["error"]
            .as_str()
            .unwrap()
            .contains("run_automation cycle refused: ping → pong → ping"),
        "{child}"
    );
    assert!(
        history["run"]["error"]
            .as_str()
            .unwrap()
            .contains("cycle refused"),
        "{history}"
    );

    // A chain deeper than the configured limit.
    k.write("keystep.toml", "[engine]\nmax_depth = 3\n");
    for (name, next) in [("d1", "d2"), ("d2", "d3"), ("d3", "d4"), ("d4", "d5")] {
        k.write(
            &format!("automations/{name}.yaml"),
            &format!("name: {name}\ntrigger: manual\nsteps:\n  - id: call\n    run_automation: {{ automation: {next}, wait: true }}\n"),
        );
    }
    k.write(
        "automations/d5.yaml",
        "name: d5\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: 1s }\n",
    );
    let (code, _) = run(&k, "d1", "{}");
    assert_eq!(code, 1);
    let error: String = k
        .db()
        .query_row("SELECT error FROM runs WHERE automation = 'd3'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        error.contains("run_automation depth limit (3) reached: d1 → d2 → d3 → d4"),
        "{error}"
    );
}

#[test]
fn literal_cycles_are_refused_before_the_run_starts() {
    let k = Keystep::with_examples();
    k.write(
        "automations/a.yaml",
        "name: a\ntrigger: manual\nsteps:\n  - id: call\n    run_automation: { automation: b }\n",
    );
    k.write(
        "automations/b.yaml",
        "name: b\ntrigger: manual\nsteps:\n  - id: call\n    run_automation: { automation: a }\n",
    );
    let ran = k.run(&["run", "a"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("run_automation cycle: a → b → a"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("a.yaml:5:"), "{}", ran.stderr);
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);
}

#[test]
fn fire_and_forget_child_runs_on_its_own() {
    let k = Keystep::with_examples();
    // The child waits an hour before it acts; the parent does not wait for it.
    k.write(
        "automations/later.yaml",
        "name: later\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: 1h }\n  \
         - id: disable\n    modify_user_status: { user: subject, status: disabled }\n",
    );
    k.write(
        "automations/starter.yaml",
        "name: starter\ntrigger: manual\nsteps:\n  - id: start\n    run_automation: { automation: later }\n  \
         - id: after\n    modify_delegate: { user: subject }\n",
    );
    let (code, parent) = run(&k, "starter", r#"{"user_id": "u-barbara"}"#);
    assert_eq!(code, 0, "{parent}");
    assert_eq!(parent["run"]["state"], "succeeded", "{parent}");
    assert_eq!(
        states(parent["steps"].as_array().unwrap()),
        vec![s("start", 1, "succeeded"), s("after", 1, "succeeded")]
    );
    let child_id = parent["steps"][0]["output"]["run_id"].as_i64().unwrap();
    assert_eq!(parent["steps"][0]["output"].get("state"), None, "{parent}");
    // The parent ended while its child still waits.
    let child = k.show(child_id);
    assert_eq!(child["run"]["state"], "waiting", "{child}");
    assert_eq!(child["run"]["parent_run"], parent["run"]["id"]);
    assert_eq!(
        k.json(&["directory", "show", "u-barbara"])["user"]["status"],
        "active"
    );
    // Without a context, the child is about the parent's subject.
    assert_eq!(child["run"]["subject_id"], "u-barbara");
    assert_eq!(
        child["run"]["trigger"]["user"]["display_name"],
        "Barbara Liskov"
    );
    // It goes on by itself once its time comes.
    k.ok(&["runs", "resume", "--now", "2099-01-01T00:00:00Z"]);
    assert_eq!(k.show(child_id)["run"]["state"], "succeeded");
    assert_eq!(
        k.json(&["directory", "show", "u-barbara"])["user"]["status"],
        "disabled"
    );
}

#[test]
fn waiting_runs_are_pinned_to_their_version_and_resume_later() {
    let k = Keystep::with_examples();
    k.write(
        "automations/later.yaml",
        "name: later\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: 1s }\n  - id: disable\n    modify_user_status: { user: subject, status: disabled }\n",
    );
    let out = k.start("later", "u-john");
    assert_eq!(out["state"], "waiting");
    let id = out["run_id"].as_i64().unwrap();
    // A new version of the file does not change the waiting run.
    k.write(
        "automations/later.yaml",
        "name: later\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: 1s }\n  - id: enable\n    modify_user_status: { user: subject, status: inactive }\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    k.ok(&["runs", "resume"]);
    let history = k.json(&["runs", "show", &id.to_string()]);
    assert_eq!(history["run"]["state"], "succeeded");
    assert_eq!(
        states(history["steps"].as_array().unwrap()),
        vec![s("nap", 1, "succeeded"), s("disable", 1, "succeeded")]
    );
    assert_eq!(
        k.json(&["directory", "show", "u-john"])["user"]["status"],
        "disabled"
    );
}

#[test]
fn detach_cancel_and_resume_a_failed_run() {
    let k = Keystep::with_examples();
    let started = k.json(&[
        "run",
        "onboarding",
        "--detach",
        "--input",
        r#"{"user_id": "u-alan"}"#,
    ]);
    let id = started["run_id"].as_i64().unwrap();
    assert_eq!(
        k.json(&["runs", "show", &id.to_string()])["run"]["state"],
        "pending"
    );
    k.ok(&["runs", "resume"]);
    assert_eq!(
        k.json(&["runs", "show", &id.to_string()])["run"]["state"],
        "waiting"
    );
    let cancelled = k.json(&["runs", "cancel", &id.to_string()]);
    assert_eq!(cancelled["state"], "cancelled");
    let again = k.run(&["runs", "cancel", &id.to_string()]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("has already cancelled"),
        "{}",
        again.stderr
    );
    let listed = k.json(&["runs", "list", "--state", "cancelled"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A run that failed on a missing user succeeds once the user exists.
    k.write("automations/needs.yaml", "name: needs\ntrigger: manual\nsteps:\n  - id: act\n    modify_user_status: { user: \"{{ 'u-late' }}\", status: disabled }\n");
    let (code, history) = run(&k, "needs", "{}");
    assert_eq!(code, 1);
    let id = history["run"]["id"].as_i64().unwrap();
    k.write(
        "late.yaml",
        "users:\n  - { id: u-late, display_name: Late Comer }\n",
    );
    k.ok(&["directory", "import", "late.yaml"]);
    k.ok(&["runs", "resume", &id.to_string()]);
    let history = k.json(&["runs", "show", &id.to_string()]);
    assert_eq!(history["run"]["state"], "succeeded");
    assert_eq!(
        states(history["steps"].as_array().unwrap()),
        vec![s("act", 1, "failed"), s("act", 2, "succeeded")]
    );
}

#[test]
fn dry_run_changes_nothing_and_shows_every_step() {
    let k = Keystep::with_examples();
    let before = k.count("SELECT count(*) FROM events");
    let out = k.json(&[
        "run",
        "offboarding",
        "--dry-run",
        "--input",
        r#"{"user_id": "u-ada"}"#,
    ]);
    assert_eq!(out["dry_run"], true);
    let runs = out["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "offboarding and its follow-up");
    assert_eq!(step_ids(&runs[0]), OFFBOARDING_STEPS);
    assert_eq!(
        runs[0]["steps"][1]["output"]["revoked"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(k.count("SELECT count(*) FROM events"), before);
    assert_eq!(k.count("SELECT count(*) FROM runs"), 0);
    assert_eq!(k.count("SELECT count(*) FROM tasks"), 0);
    assert_eq!(
        k.json(&["directory", "show", "u-ada"])["user"]["status"],
        "active"
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let k = Keystep::with_examples();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "offboarding", "--input", "{nope"],
            "--input is not valid JSON",
        ),
        (
            &["run", "offboarding", "--input", r#"{"user_id": "u-ghost"}"#],
            "unknown user `u-ghost`",
        ),
        (
            &["run", "no-such-automation"],
            "no automation named `no-such-automation`",
        ),
        (&["runs", "show", "999"], "no run 999"),
        (&["tasks", "complete", "999"], "unknown task `999`"),
        (&["directory", "show", "u-ghost"], "unknown user `u-ghost`"),
        (&["runs", "frobnicate"], "unrecognized subcommand"),
    ];
    for (args, message) in cases {
        let ran = k.run(args);
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        assert!(ran.stderr.contains(message), "{args:?}: {}", ran.stderr);
    }
    let ran = k.run(&["--json", "runs", "show", "999"]);
    assert_eq!(ran.code, 2);
    assert_eq!(ran.json()["error"], "no run 999");
}

#[test]
fn ctrl_c_leaves_a_waiting_run_saved() {
    let k = Keystep::with_examples();
    k.write(
        "automations/nap.yaml",
        "name: nap\ntrigger: manual\nsteps:\n  - id: nap\n    wait: { duration: 30s }\n",
    );
    let mut child = k
        .command(&["run", "nap"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while k
        .path()
        .join(".keystep/keystep.db")
        .exists()
        .then(|| k.count("SELECT count(*) FROM runs WHERE state = 'waiting'"))
        != Some(1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started waiting"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe_kill(child.id(), "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        out.contains("interrupted: run 1 is saved (waiting)"),
        "{out}"
    );
    assert_eq!(
        k.count("SELECT count(*) FROM runs WHERE state = 'waiting'"),
        1
    );
}

fn unsafe_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
