//! The API's OpenAPI 3.1 document (`GET /v1/openapi.json`, generated from
//! the handlers) against the running server: schemathesis (PyPI) reads the
//! document, sends the requests it describes and many it does not, and
//! checks every answer — no server error, each status and content type
//! documented, each body valid against its schema, invalid requests
//! refused, valid ones accepted, and no endpoint open without its token.

use std::process::Command;

use keystep_tests::Keystep;

const OPERATE: &str = "op-7d2b9e0c4f1a6358ee";
const READ: &str = "rd-2c6e8a1f9b4d0735aa";

#[test]
fn the_openapi_document_matches_what_the_server_does() {
    let k = Keystep::with_examples();
    k.with_tokens(OPERATE, READ);
    // Only automations that end at once: a `?wait` on one that waits days
    // would hold a fuzzed request for a minute.
    std::fs::remove_dir_all(k.path().join("automations")).unwrap();
    k.write(
        "automations/quick.yaml",
        "name: quick\ntrigger: manual\nsteps:\n  - id: pause\n    wait: { duration: 1ms }\noutput:\n  done: true\n",
    );
    let s = k.serve_api();
    let document = s.request("GET", "/v1/openapi.json", &[], "");
    assert_eq!(document.status, 200, "{document:?}");
    assert_eq!(document.body["openapi"], "3.1.0");
    for path in [
        "/v1/automations/{name}/runs",
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/hooks/{automation}",
        "/metrics",
    ] {
        assert!(
            document.body["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    // A request the document allows may still be refused for what it
    // holds: a user the directory lacks, an automation's condition (422).
    k.write(
        "schemathesis.toml",
        "[checks.positive_data_acceptance]\nexpected-statuses = [\"2XX\", \"401\", \"403\", \"404\", \"409\", \"422\"]\n",
    );
    let url = format!("http://{}/v1/openapi.json", s.address());
    let ran = Command::new("python3")
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()",
            "run",
            &url,
            "--header",
            &format!("Authorization: Bearer {OPERATE}"),
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261201",
            "--no-shrink",
            // One worker: Python 3.11's `ast.parse`, which hypothesis calls,
            // is not safe from two threads at once ("AST constructor
            // recursion depth mismatch").
            "--workers",
            "1",
        ])
        .current_dir(k.path())
        .output()
        .expect("python3 runs schemathesis (scripts/test installs it)");
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "schemathesis found the server and its document apart:\n{out}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(out.contains("Tested: 14"), "{out}");
    // The fuzzing reached the engine: runs started and answered.
    assert!(k.count("SELECT count(*) FROM runs") > 0, "{out}");
}
