//! The OpenAPI document against a real daemon: schemathesis (pinned in
//! `testkit/clients/requirements.txt`) generates requests for every
//! operation from `GET /api/openapi.json`, valid and invalid ones, and
//! fails on any 5xx and on any answer the document does not describe (its
//! status, content type or body).
//!
//! `#[ignore]`d like the other tests that need the clients of
//! `scripts/clients install`; `scripts/test` installs them and runs with
//! `--include-ignored`. Run alone with
//! `. <(scripts/clients env) && cargo test -p logstreamd --test openapi -- --include-ignored`.
//! A missing schemathesis fails the test.

use std::process::{Command, Stdio};
use std::time::Instant;

use logstream_testkit::TestDaemon;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "admin-token-openapi-5c1e9a7d3b";

/// The checks: no server error, and every answer as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,ignored_auth";

/// Test cases per operation and phase: enough to reach the handlers'
/// error paths, few enough for about two minutes on two cores.
const MAX_EXAMPLES: &str = "100";

fn schemathesis() -> Command {
    let python = match std::env::var("LOGSTREAM_CLIENTS_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ => panic!(
            "LOGSTREAM_CLIENTS_PYTHON is not set: this test needs schemathesis; run \
             `scripts/clients install && . <(scripts/clients env)` first (scripts/test does both)"
        ),
    };
    let mut command = Command::new(python);
    command.args(["-m", "schemathesis.cli"]);
    command
}

/// A few records, so that queries and counts have something to find.
async fn seed(daemon: &TestDaemon) {
    let records: Vec<Value> = (0..20)
        .map(|i| {
            let level = ["INFO", "ERROR"][i % 2];
            json!({"service": format!("svc-{}", i % 3), "level": level,
                   "message": format!("seed record {i}"), "host": "h1",
                   "attributes": {"n": i, "path": "/a"}})
        })
        .collect();
    let response = reqwest::Client::new()
        .post(daemon.at("/api/ingest"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

#[tokio::test]
#[ignore = "needs schemathesis (scripts/test installs it with scripts/clients)"]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let tokens = format!("admin:{ADMIN_TOKEN}");
    let daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_TOKENS", &tokens)]);
    seed(&daemon).await;
    // Whatever schemathesis leaves behind stays out of the source tree.
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = schemathesis()
        .arg("run")
        .arg(daemon.at("/api/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        // Reproducible: the same cases on every run.
        .args(["--seed", "1", "--generation-database", "none"])
        // The live tail never ends: its stream cannot be checked by a
        // request that waits for the whole answer.
        .args(["--exclude-path", "/api/tail"])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .args(["--workers", "2", "--request-timeout", "30", "--no-color"])
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start schemathesis: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("schemathesis took {:.0?}:\n{stdout}", started.elapsed());
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n--- its stderr:\n{}\n--- the daemon's log (last lines):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        last_lines(&daemon.log(), 40)
    );
    let health = reqwest::get(daemon.at("/api/health")).await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "the daemon is not healthy after the run"
    );
}

/// The document is served without a token and names every operation the
/// other tests reach.
#[tokio::test]
async fn the_document_is_served_without_a_token() {
    let tokens = format!("admin:{ADMIN_TOKEN}");
    let daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_TOKENS", &tokens)]);
    let response = reqwest::get(daemon.at("/api/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/ingest",
        "/api/logs",
        "/v1/logs",
        "/api/tail",
        "/api/health",
    ] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
