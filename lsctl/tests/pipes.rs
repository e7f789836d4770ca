//! The query language's boolean logic, regexes, typed filters and pipe
//! stages, end to end: `lsctl query` against a real daemon, each stage in
//! each output format where it matters.

use logstream_testkit::{TestDaemon, lsctl};
use serde_json::{Value, json};

/// Eight requests of two services: status, duration, path and user.
fn requests() -> Vec<Value> {
    let rows = [
        ("api", "INFO", 200, "12.5", "/api/users", "alice"),
        ("api", "ERROR", 500, "250.5", "/api/orders", "bob"),
        ("api", "ERROR", 503, "900", "/api/orders", "alice"),
        ("web", "WARN", 404, "3", "/home", "carol"),
        ("web", "INFO", 200, "40", "/home", "alice"),
        ("web", "ERROR", 502, "1200", "/api/orders", "dave"),
        ("db", "DEBUG", 200, "n/a", "/internal", "system"),
        ("api", "INFO", 200, "20", "/api/users", "bob"),
    ];
    rows.iter()
        .enumerate()
        .map(|(i, (service, level, status, ms, path, user))| {
            json!({
                "service": service,
                "level": level,
                "timestamp": format!("2026-11-30T10:0{i}:00Z"),
                "message": format!("user={user} took {ms}ms GET {path}"),
                "attributes": {"status": status.to_string(), "duration_ms": ms, "path": path, "user_id": user},
            })
        })
        .collect()
}

fn daemon_with_requests() -> TestDaemon {
    let daemon = TestDaemon::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(daemon.at("/api/ingest"))
            .json(&requests())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    });
    daemon
}

fn query(daemon: &TestDaemon, q: &str, extra: &[&str]) -> String {
    let output = lsctl(daemon)
        .args(["query", "--since", "2026-11-01"])
        .args(extra)
        .args(["--", q])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lsctl query {q:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn ndjson(daemon: &TestDaemon, q: &str) -> Vec<Value> {
    query(daemon, q, &["-o", "ndjson"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn users(daemon: &TestDaemon, q: &str) -> Vec<String> {
    let mut users: Vec<String> = ndjson(daemon, q)
        .iter()
        .map(|r| r["attributes"]["user_id"].as_str().unwrap().to_string())
        .collect();
    users.sort();
    users
}

#[test]
fn boolean_logic_regexes_and_typed_filters_select_records() {
    let daemon = daemon_with_requests();
    let cases: &[(&str, &[&str])] = &[
        (
            "(service:api OR service:web) status>=500",
            &["alice", "bob", "dave"],
        ),
        (
            "-(level:info OR level:debug) -service:web",
            &["alice", "bob"],
        ),
        ("NOT service:api AND duration_ms<50", &["alice", "carol"]),
        (r#"~"took [0-9]{3,}ms""#, &["alice", "dave"]),
        (r#"path~"^/api/o""#, &["alice", "bob", "dave"]),
        (r#"~"(?-i)GET /HOME""#, &[]),
        ("duration_ms>250.5", &["alice", "dave"]),
        ("status!=200 path:/api/*", &["alice", "bob", "dave"]),
        ("user_id:* -duration_ms>=0 -duration_ms<0", &["system"]),
        ("-missing:* service:db", &["system"]),
    ];
    for (q, expected) in cases {
        assert_eq!(users(&daemon, q), *expected, "{q}");
    }
}

#[test]
fn stats_top_fields_sort_and_limit_print_tables() {
    let daemon = daemon_with_requests();

    let text = query(
        &daemon,
        "| stats count(), avg(duration_ms), max(duration_ms) by service",
        &[],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains("service") && lines[0].contains("avg(duration_ms)"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("api") && lines[1].contains("4"),
        "{text}"
    );
    // db's only duration is not a number: no average, shown as "-".
    assert!(
        lines[2].starts_with("db") && lines[2].ends_with('-'),
        "{text}"
    );

    let top = ndjson(&daemon, "status>=500 | top 2 user_id");
    assert_eq!(
        top,
        vec![
            json!({"user_id": "alice", "count": 1, "share": 1.0 / 3.0}),
            json!({"user_id": "bob", "count": 1, "share": 1.0 / 3.0}),
        ]
    );

    let csv = query(
        &daemon,
        "| stats count() as n, p50(duration_ms) by path | sort by n desc, path | limit 2",
        &["-o", "csv"],
    );
    assert_eq!(
        csv,
        "path,n,p50(duration_ms)\n/api/orders,3,900.0\n/api/users,2,16.25\n"
    );

    let fields = ndjson(
        &daemon,
        "service:web | fields time, attr.status, level | sort by status",
    );
    let statuses: Vec<&str> = fields
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["200", "404", "502"]);
    assert_eq!(fields[0]["time"], "2026-11-30T10:04:00Z");

    let per_hour = ndjson(
        &daemon,
        "| stats count() by time(1h), level | sort by count desc | limit 1",
    );
    assert_eq!(
        per_hour,
        // INFO and ERROR both have 3; ties go by the columns, levels by severity.
        vec![json!({"time": "2026-11-30T10:00:00Z", "level": "INFO", "count": 3})]
    );

    // Records sorted by a number, slowest first.
    let slowest = ndjson(&daemon, "| sort by duration_ms desc | limit 2");
    let ms: Vec<&str> = slowest
        .iter()
        .map(|r| r["attributes"]["duration_ms"].as_str().unwrap())
        .collect();
    assert_eq!(ms, ["1200", "900"]);
}

#[test]
fn extract_makes_names_for_later_stages() {
    let daemon = daemon_with_requests();
    let rows = ndjson(
        &daemon,
        r#"| extract "user=<user> took <ms>ms" | where ms>=250 | stats count(), sum(ms) by user"#,
    );
    assert_eq!(
        rows,
        vec![
            json!({"user": "alice", "count": 1, "sum(ms)": 900.0}),
            json!({"user": "bob", "count": 1, "sum(ms)": 250.5}),
            json!({"user": "dave", "count": 1, "sum(ms)": 1200.0}),
        ]
    );
}

#[test]
fn mistakes_point_at_the_column_and_tail_refuses_pipes() {
    let daemon = daemon_with_requests();
    let output = lsctl(&daemon)
        .args(["query", r#"path~"(unclosed""#])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("column 6") && stderr.contains("invalid regular expression"),
        "{stderr}"
    );

    let output = lsctl(&daemon)
        .args(["query", "| stats nope(x)"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a stats function"), "{stderr}");

    let output = lsctl(&daemon)
        .args(["tail", "service:api | stats count()"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("need a finished"), "{stderr}");
}
