//! Access control end to end: bearer tokens with scopes, against real
//! daemons configured by file and by environment variable.

use std::process::Command;

use logstream_shared::api::ErrorBody;
use logstream_testkit::TestDaemon;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

const INGEST: &str = "ingest-token-for-apps-7f3a9c";
const READ: &str = "read-token-for-people-2b8e1d";
const ADMIN: &str = "admin-token-for-ops-5c4f0a";

/// Every endpoint but health, as (method, path, the scope it needs).
const ENDPOINTS: [(&str, &str, &str); 5] = [
    ("POST", "/api/ingest", "ingest"),
    ("GET", "/api/logs", "read"),
    ("GET", "/api/ingest/logs", "read"),
    ("GET", "/api/stats/histogram", "read"),
    ("GET", "/api/stats/facets", "read"),
];

/// A request with an optional bearer token; a POST carries one record.
async fn call(
    daemon: &TestDaemon,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        daemon.at(path),
    );
    if method == "POST" {
        request = request.json(&json!({"service": "auth", "message": "hello"}));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn status(daemon: &TestDaemon, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    call(daemon, method, path, token).await.status()
}

/// The answer must be 401 with `WWW-Authenticate: Bearer` and a JSON error
/// body; returns its error text.
async fn unauthorized(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    response.json::<ErrorBody>().await.unwrap().error
}

/// What a daemon with the three tokens must do, however they were given.
async fn check_scopes(daemon: &TestDaemon) {
    for (method, path, needed) in ENDPOINTS {
        let error = unauthorized(call(daemon, method, path, None).await).await;
        assert!(error.contains("Authorization: Bearer TOKEN"), "{error}");
        let error =
            unauthorized(call(daemon, method, path, Some("not-a-token-we-know-of")).await).await;
        assert_eq!(error, "unknown access token");

        for (token, scope) in [(INGEST, "ingest"), (READ, "read")] {
            let response = call(daemon, method, path, Some(token)).await;
            if scope == needed {
                assert!(
                    response.status().is_success(),
                    "{method} {path} with {scope}: {}",
                    response.status()
                );
                continue;
            }
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with {scope}"
            );
            let body: ErrorBody = response.json().await.unwrap();
            assert_eq!(
                body.error,
                format!(
                    "this token has the scope \"{scope}\"; {method} {path} needs \"{needed}\" (or \"admin\")"
                )
            );
        }
        let admin = status(daemon, method, path, Some(ADMIN)).await;
        assert!(admin.is_success(), "{method} {path} with admin: {admin}");
    }

    // Health checks need no token; everything else does, even unknown paths.
    assert_eq!(
        status(daemon, "GET", "/api/health", None).await,
        StatusCode::OK
    );
    unauthorized(call(daemon, "GET", "/api/nope", None).await).await;
    assert_eq!(
        status(daemon, "GET", "/api/nope", Some(READ)).await,
        StatusCode::NOT_FOUND
    );
    unauthorized(call(daemon, "GET", "/api/ingest", None).await).await;

    // What the ingest and admin tokens stored, the read token finds.
    let response = reqwest::Client::new()
        .get(daemon.at("/api/logs"))
        .query(&[("q", "service:auth")])
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    let page: logstream_shared::api::LogsPage = response.json().await.unwrap();
    assert_eq!(page.data.len(), 2);

    for token in [INGEST, READ, ADMIN] {
        assert!(
            !daemon.log().contains(token),
            "a token is in the log:\n{}",
            daemon.log()
        );
    }
}

#[tokio::test]
async fn tokens_from_a_file_guard_every_endpoint_by_scope() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(
        &file,
        format!("# apps\ningest:{INGEST}\n\n# people and lsctl\n  read:{READ}\nadmin:{ADMIN}\n"),
    )
    .unwrap();
    // Debug logging shows every request: still no token may appear.
    let daemon =
        TestDaemon::start_with(&["--tokens-file", file.to_str().unwrap(), "--log", "debug"]);
    assert!(
        daemon
            .log()
            .contains("tokens required (1 ingest, 1 read, 1 admin)"),
        "{}",
        daemon.log()
    );
    check_scopes(&daemon).await;
}

#[tokio::test]
async fn tokens_from_the_environment_guard_every_endpoint_by_scope() {
    let tokens = format!("ingest:{INGEST}, read:{READ}\nadmin:{ADMIN}");
    let daemon = TestDaemon::start_with_env(&["--log", "debug"], &[("LOGSTREAM_TOKENS", &tokens)]);
    check_scopes(&daemon).await;
}

#[tokio::test]
async fn without_tokens_the_api_stays_open() {
    let daemon = TestDaemon::start();
    for (method, path, _) in ENDPOINTS {
        assert!(
            status(&daemon, method, path, None).await.is_success(),
            "{method} {path}"
        );
        // A token is ignored when none is configured.
        assert!(
            status(&daemon, method, path, Some(READ)).await.is_success(),
            "{method} {path}"
        );
    }
    assert!(
        !daemon.log().contains("NO ACCESS CONTROL"),
        "loopback only: no warning"
    );
}

#[test]
fn an_open_daemon_on_all_interfaces_warns_loudly() {
    let daemon = TestDaemon::start_with(&["--listen", "0.0.0.0:0"]);
    let log = daemon.log();
    assert!(
        log.contains("WARN")
            && log.contains("NO ACCESS CONTROL")
            && log.contains("anyone who can reach this port can read and write logs"),
        "{log}"
    );
    assert!(log.contains("--tokens-file or LOGSTREAM_TOKENS"), "{log}");

    let guarded = TestDaemon::start_with_env(
        &["--listen", "0.0.0.0:0"],
        &[("LOGSTREAM_TOKENS", &format!("read:{READ}"))],
    );
    assert!(
        !guarded.log().contains("NO ACCESS CONTROL"),
        "{}",
        guarded.log()
    );
}

/// Runs logstreamd, which must fail at start-up; returns its stderr.
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(logstream_testkit::binary("logstreamd"))
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(args)
        .env_remove("LOGSTREAM_TOKENS")
        .env_remove("LOGSTREAM_TOKENS_FILE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "it started: {stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    stderr
}

#[test]
fn bad_token_configuration_stops_the_daemon_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let cases = [
        (
            format!("read:{READ}\n# ok so far\nwrite:{INGEST}\n"),
            ":3: unknown scope \"write\"",
        ),
        (format!("read:{READ}\ningest:\n"), ":2: empty token"),
        (
            "ingest:too-short\n".to_string(),
            ":1: the token is shorter than 16 characters",
        ),
        (
            format!("read:{READ}\nadmin:{READ}\n"),
            ":2: duplicate token (also at",
        ),
        (format!("{INGEST}\n"), ":1: expected SCOPE:TOKEN"),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, &text).unwrap();
        let stderr = refused_start(&["--tokens-file", file.to_str().unwrap()], &[]);
        let place = format!("logstreamd: {}{expected}", file.display());
        assert!(stderr.contains(&place), "{text:?}: {stderr}");
        for token in [INGEST, READ] {
            assert!(!stderr.contains(token), "{stderr}");
        }
    }

    let stderr = refused_start(
        &[],
        &[("LOGSTREAM_TOKENS", &format!("read:{READ},reed:{INGEST}"))],
    );
    assert!(
        stderr.contains("LOGSTREAM_TOKENS (--tokens) entry 2: unknown scope \"reed\""),
        "{stderr}"
    );
    assert!(!stderr.contains(INGEST), "{stderr}");

    let stderr = refused_start(&["--tokens-file", "/nonexistent/tokens"], &[]);
    assert!(
        stderr.contains("cannot read the tokens file /nonexistent/tokens"),
        "{stderr}"
    );
}

#[test]
fn help_does_not_show_the_tokens_from_the_environment() {
    let output = Command::new(logstream_testkit::binary("logstreamd"))
        .arg("--help")
        .env("LOGSTREAM_TOKENS", format!("read:{READ}"))
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--tokens-file <PATH>"), "{help}");
    assert!(help.contains("LOGSTREAM_TOKENS"), "{help}");
    assert!(!help.contains(READ), "{help}");
}

/// The open health check showed anyone the store's path or URL.
#[tokio::test]
async fn health_names_the_store_only_to_readers_once_tokens_are_configured() {
    async fn store_shown(daemon: &TestDaemon, token: Option<&str>) -> Option<String> {
        let response = call(daemon, "GET", "/api/health", token).await;
        assert_eq!(response.status(), StatusCode::OK);
        let health: serde_json::Value = response.json().await.unwrap();
        assert_eq!(health["status"], "ok");
        health.get("store").map(|s| s.as_str().unwrap().to_string())
    }
    let tokens = format!("ingest:{INGEST},read:{READ},admin:{ADMIN}");
    let daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_TOKENS", &tokens)]);
    for token in [None, Some(INGEST), Some("not-a-known-token-at-all")] {
        assert_eq!(store_shown(&daemon, token).await, None, "{token:?}");
    }
    for token in [READ, ADMIN] {
        let store = store_shown(&daemon, Some(token)).await.unwrap();
        assert!(store.starts_with("duckdb://"), "{store}");
    }

    let open = TestDaemon::start();
    let store = store_shown(&open, None).await.unwrap();
    assert!(store.starts_with("duckdb://"), "{store}");
}
