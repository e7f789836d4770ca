//! Every `lsctl query` example of the README's query sections, run as
//! written (by `sh`, redirections and all) against a real daemon holding
//! records that each example finds: an example that stops working, or finds
//! nothing, fails here.

use std::path::Path;
use std::process::Command;

use chrono::{Duration, Utc};
use logstream_testkit::{TestDaemon, binary, lsctl};
use serde_json::{Value, json};

/// The README sections whose `sh` blocks hold the examples.
const SECTIONS: [&str; 2] = ["### lsctl query", "### The query language"];

/// The `lsctl query` lines of the `sh` code blocks in `SECTIONS`.
fn examples() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the README");
    let mut examples = Vec::new();
    for section in SECTIONS {
        let start = readme.find(&format!("\n{section}\n")).expect("the section");
        let body = &readme[start + section.len() + 2..];
        let body = &body[..body.find("\n### ").unwrap_or(body.len())];
        let mut in_sh = false;
        for line in body.lines() {
            match line {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                _ if in_sh && line.starts_with("lsctl query ") => examples.push(line.to_string()),
                _ => {}
            }
        }
    }
    examples
}

/// Records the examples look for, a few minutes old (and one in 2024).
fn records() -> Value {
    let ago = |minutes: i64| (Utc::now() - Duration::minutes(minutes)).to_rfc3339();
    json!([
        {"service": "api", "level": "WARN", "host": "web-1", "timestamp": ago(3),
         "message": "connection refused: timeout; user=alice took 300ms, upstream timed out",
         "attributes": {"user_id": "42", "region": "eu", "status": "503", "path": "/api/orders", "duration_ms": "300"}},
        {"service": "web", "level": "INFO", "host": "web-2", "timestamp": ago(4),
         "message": "GET /home 200", "attributes": {"status": "200", "path": "/home", "duration_ms": "12"}},
        {"service": "user-service", "level": "ERROR", "timestamp": ago(2), "message": "payment failed"},
        {"service": "api", "level": "INFO", "timestamp": "2024-05-01T12:00:00Z",
         "message": "old request", "attributes": {"user_id": "42"}},
    ])
}

#[test]
fn every_query_example_of_the_readme_runs_and_finds_something() {
    let examples = examples();
    assert!(
        examples.len() >= 15,
        "the examples were found: {examples:?}"
    );
    let daemon = TestDaemon::start();
    let posted = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(daemon.at("/api/ingest"))
            .json(&records())
            .send()
            .await
            .unwrap()
    });
    assert!(posted.status().is_success(), "{posted:?}");
    let dir = tempfile::tempdir().unwrap();
    let base = lsctl(&daemon);
    let bin_dir = binary("lsctl").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    for example in examples {
        let mut shell = Command::new("sh");
        shell
            .args(["-c", &example])
            .current_dir(dir.path())
            .env("PATH", &path);
        for (key, value) in base.get_envs() {
            match value {
                Some(value) => shell.env(key, value),
                None => shell.env_remove(key),
            };
        }
        let output = shell.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{example}: {stderr}");
        let printed = match example.split_once(" > ") {
            Some((_, file)) => std::fs::read(dir.path().join(file.trim())).unwrap(),
            None => output.stdout,
        };
        // A table prints its header even without rows.
        let table = ["| stats", "| top", "| fields"]
            .iter()
            .any(|s| example.contains(s));
        let lines = String::from_utf8_lossy(&printed).lines().count();
        assert!(
            lines > usize::from(table) && printed != b"[]\n",
            "{example} found nothing; stderr: {stderr}"
        );
    }
}
