//! `lsctl query -C/-A/-B`: each match with its neighbours from the same
//! service and host, against a real daemon.

use logstream_testkit::{TestDaemon, lsctl};
use serde_json::{Value, json};

/// `api` on h1 logs a0..a9 a second apart (errors: a2, a4, a8); between
/// them `api` on h2 and `web` log records that are never its context.
fn daemon_with_sources() -> TestDaemon {
    let mut records = Vec::new();
    for i in 0..10 {
        let level = if [2, 4, 8].contains(&i) {
            "ERROR"
        } else {
            "INFO"
        };
        let at = |fraction: &str| format!("2026-11-30T10:00:0{i}{fraction}Z");
        records.push(json!({"service": "api", "host": "h1", "level": level, "message": format!("a{i}"), "timestamp": at("")}));
        records.push(json!({"service": "api", "host": "h2", "level": "INFO", "message": format!("h2-{i}"), "timestamp": at(".3")}));
        records.push(json!({"service": "web", "level": "ERROR", "message": format!("w{i}"), "timestamp": at(".6")}));
    }
    let daemon = TestDaemon::start();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let response = reqwest::Client::new()
            .post(daemon.at("/api/ingest"))
            .json(&Value::Array(records))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    });
    daemon
}

fn query(daemon: &TestDaemon, args: &[&str]) -> String {
    let output = lsctl(daemon)
        .args(["query", "--since", "2026-11-01", "--utc"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lsctl query {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn groups_merge_where_they_touch_and_are_separated_where_not() {
    let daemon = daemon_with_sources();
    let errors = ["service:api", "host:h1", "level:error", "-o", "raw"];
    let oldest_first = query(&daemon, &[&errors[..], &["-C", "1", "--reverse"]].concat());
    assert_eq!(oldest_first, "a1\na2\na3\na4\na5\n--\na7\na8\na9\n");
    let newest_first = query(&daemon, &[&errors[..], &["-C", "1"]].concat());
    assert_eq!(newest_first, "a9\na8\na7\n--\na5\na4\na3\na2\na1\n");
    // -A and -B choose each side; -B overrides -C on its side.
    let after_only = query(&daemon, &[&errors[..], &["-A", "2", "--reverse"]].concat());
    assert_eq!(after_only, "a2\na3\na4\na5\na6\n--\na8\na9\n");
    let before_only = query(
        &daemon,
        &[&errors[..], &["-C", "1", "-B", "0", "-r"]].concat(),
    );
    assert_eq!(before_only, "a2\na3\na4\na5\n--\na8\na9\n");
}

#[test]
fn matches_are_marked_in_every_format() {
    let daemon = daemon_with_sources();
    let base = [
        "service:api",
        "host:h1",
        "level:error",
        "-n",
        "1",
        "-C",
        "1",
    ];
    let text = query(&daemon, &base);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("  2026-11-30 10:00:09.000 INFO"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("> 2026-11-30 10:00:08.000 ERROR"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("  ") && lines[2].ends_with("a7"),
        "{text}"
    );

    let ndjson: Vec<Value> = query(&daemon, &[&base[..], &["-o", "ndjson"]].concat())
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let marks: Vec<(&str, bool)> = ndjson
        .iter()
        .map(|r| (r["message"].as_str().unwrap(), r["hit"].as_bool().unwrap()))
        .collect();
    assert_eq!(marks, [("a9", false), ("a8", true), ("a7", false)]);
    assert_eq!(ndjson[1]["host"], "h1", "the record is whole");

    let csv = query(
        &daemon,
        &[&base[..], &["-o", "csv", "-f", "message"]].concat(),
    );
    assert_eq!(csv, "message,hit\na9,false\na8,true\na7,false\n");
    let logfmt = query(
        &daemon,
        &[&base[..], &["-o", "logfmt", "-f", "message"]].concat(),
    );
    assert_eq!(
        logfmt,
        "message=a9 hit=false\nmessage=a8 hit=true\nmessage=a7 hit=false\n"
    );
    let json: Value = serde_json::from_str(&query(
        &daemon,
        &[&base[..], &["-o", "json", "-f", "message"]].concat(),
    ))
    .unwrap();
    assert_eq!(
        json,
        json!([{"message": "a9", "hit": false}, {"message": "a8", "hit": true}, {"message": "a7", "hit": false}])
    );
}

#[test]
fn a_match_in_another_match_s_context_is_marked_once() {
    let daemon = daemon_with_sources();
    // a2 and a4 are both matches and each in the other's context.
    let ndjson = query(
        &daemon,
        &[
            "service:api",
            "host:h1",
            "level:error",
            "-C",
            "2",
            "-r",
            "-o",
            "ndjson",
            "-f",
            "message",
        ],
    );
    let marks: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hits: Vec<&str> = marks
        .iter()
        .filter(|r| r["hit"] == true)
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    let all: Vec<&str> = marks
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        all,
        ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]
    );
    assert_eq!(hits, ["a2", "a4", "a8"]);
}

#[test]
fn context_is_refused_for_tables() {
    let daemon = daemon_with_sources();
    let output = lsctl(&daemon)
        .args(["query", "-C", "2", "--", "| stats count() by service"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a table has none"), "{stderr}");
}
