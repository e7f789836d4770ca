//! Access control end to end: bearer tokens with scopes, against real
//! daemons configured by file and by environment variable. The routes and
//! the scopes they need come from `logstreamd::api::ROUTES`, the table the
//! daemon's guard itself looks every request up in.

use std::process::Command;
use std::sync::Arc;

use logstream_shared::Secret;
use logstream_shared::api::ErrorBody;
use logstream_testkit::TestDaemon;
use logstreamd::api::auth::{Scope, Tokens};
use logstreamd::api::{ROUTES, Route, WORKER_ROUTES, WorkerState, worker_router};
use logstreamd::ingest::health::{WorkerHealth, WorkerStatus};
use logstreamd::metrics::Metrics;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

const INGEST: &str = "ingest-token-for-apps-7f3a9c";
const READ: &str = "read-token-for-people-2b8e1d";
const ADMIN: &str = "admin-token-for-ops-5c4f0a";

/// The id of the record the `/api/ingest` example stores: routes are called
/// in the table's order, so it is stored before a route names it.
const STORED_ID: &str = "auth-hello";

/// Every route and method of `routes` that needs a token, as (method, the
/// path with its parameters filled in, the scope it needs).
fn guarded(routes: &[Route]) -> Vec<(&'static str, String, &'static str)> {
    let mut calls = Vec::new();
    for route in routes {
        let Some(scope) = route.scope else { continue };
        let path = route
            .path
            .replace("{index}", "logs")
            .replace("{name}", "logstream")
            .replace("{id}", STORED_ID);
        for method in route.methods {
            calls.push((*method, path.clone(), scope.as_str()));
        }
    }
    calls
}

/// The open routes of `routes`, as (method, path).
fn open(routes: &[Route]) -> Vec<(&'static str, &'static str)> {
    routes
        .iter()
        .filter(|route| route.scope.is_none())
        .flat_map(|route| route.methods.iter().map(|method| (*method, route.path)))
        .collect()
}

/// Whether the request that [`call`] makes to `path` stores a record (one,
/// of the service "auth").
fn stores(method: &str, path: &str) -> bool {
    example_body(method, path).is_some_and(|(_, _, stores)| stores)
}

/// The body that makes `method path` succeed, as (content type, body,
/// whether it stores a record); `None` for a request without a body.
fn example_body(method: &str, path: &str) -> Option<(&'static str, String, bool)> {
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let body = match (method, path) {
        ("GET" | "HEAD", _) => return None,
        (_, "/api/ingest") => (
            "application/json",
            json!({"id": STORED_ID, "service": "auth", "message": "hello"}).to_string(),
            true,
        ),
        (_, "/v1/logs") => (
            "application/json",
            json!({"resourceLogs": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": "auth"}}]},
                "scopeLogs": [{"logRecords": [{"body": {"stringValue": "hello"}}]}]
            }]})
            .to_string(),
            true,
        ),
        (_, "/loki/api/v1/push") => (
            "application/json",
            json!({"streams": [{
                "stream": {"service_name": "auth"},
                "values": [[now_ns.to_string(), "hello"]]
            }]})
            .to_string(),
            true,
        ),
        (_, path) if path.ends_with("/_bulk") => (
            "application/x-ndjson",
            "{\"create\":{}}\n{\"service\":\"auth\",\"message\":\"hello\"}\n".to_string(),
            true,
        ),
        // Elasticsearch templates, policies and pipelines: acknowledged.
        (_, path) if path.starts_with("/_") => ("application/json", "{}".to_string(), false),
        _ => panic!("no example request for {method} {path}: add one here"),
    };
    Some(body)
}

/// A request with an optional bearer token, and the body the route needs.
async fn call(base: &str, method: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{base}{path}"),
    );
    if let Some((content_type, body, _)) = example_body(method, path) {
        request = request
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn status(base: &str, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    call(base, method, path, token).await.status()
}

/// The answer must be 401 with `WWW-Authenticate: Bearer` and a JSON error
/// body; returns its error text.
async fn unauthorized(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    error_text(response).await
}

/// The error text of a JSON error body.
async fn error_text(response: reqwest::Response) -> String {
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    response.json::<ErrorBody>().await.unwrap().error
}

/// Each of `routes` must answer only tokens of its scope (or admin), and
/// its open ones anybody; returns how many records the calls stored.
async fn check_routes(base: &str, routes: &[Route]) -> usize {
    let mut stored = 0;
    for (method, path, needed) in guarded(routes) {
        let path = path.as_str();
        // An answer to HEAD has the headers of the answer to GET, no body.
        let has_body = method != "HEAD";
        let response = call(base, method, path, None).await;
        if has_body {
            let error = unauthorized(response).await;
            assert!(
                error.contains("Authorization: Bearer TOKEN"),
                "{method} {path}: {error}"
            );
        } else {
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
        let response = call(base, method, path, Some("not-a-token-we-know-of")).await;
        if has_body {
            let error = unauthorized(response).await;
            assert_eq!(error, "unknown access token", "{method} {path}");
        } else {
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }

        for (token, scope) in [(INGEST, Scope::Ingest), (READ, Scope::Read)] {
            let scope = scope.as_str();
            let response = call(base, method, path, Some(token)).await;
            if scope == needed {
                assert!(
                    response.status().is_success(),
                    "{method} {path} with {scope}: {}",
                    response.status()
                );
                stored += usize::from(stores(method, path));
                continue;
            }
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with {scope}"
            );
            if !has_body {
                continue;
            }
            assert_eq!(
                error_text(response).await,
                format!(
                    "this token has the scope \"{scope}\"; {method} {path} needs \"{needed}\" (or \"admin\")"
                )
            );
        }
        let admin = status(base, method, path, Some(ADMIN)).await;
        assert!(admin.is_success(), "{method} {path} with admin: {admin}");
        stored += usize::from(stores(method, path));
    }
    for (method, path) in open(routes) {
        assert_eq!(
            status(base, method, path, None).await,
            StatusCode::OK,
            "{method} {path}"
        );
    }
    stored
}

/// What a daemon with the three tokens must do, however they were given.
async fn check_scopes(daemon: &TestDaemon) {
    let base = daemon.at("");
    let base = base.as_str();
    let stored = check_routes(base, ROUTES).await;
    assert_eq!(
        open(ROUTES),
        [("GET", "/api/health"), ("GET", "/api/openapi.json")],
        "only health checks and the API's description go without a token"
    );
    // What the README's access control table says the read scope gives;
    // every other route takes records in.
    let reads: Vec<&str> = ROUTES
        .iter()
        .filter(|route| route.scope == Some(Scope::Read))
        .map(|route| route.path)
        .collect();
    assert_eq!(
        reads,
        [
            "/api/logs",
            "/api/logs/{id}/context",
            "/api/ingest/logs",
            "/api/stats/histogram",
            "/api/stats/facets",
            "/api/fields",
            "/api/tail",
            "/metrics"
        ]
    );

    // Everything else needs a token, even unknown paths.
    unauthorized(call(base, "GET", "/api/nope", None).await).await;
    assert_eq!(
        status(base, "GET", "/api/nope", Some(READ)).await,
        StatusCode::NOT_FOUND
    );
    unauthorized(call(base, "GET", "/api/ingest", None).await).await;

    // What the ingest and admin tokens stored, the read token finds.
    let response = reqwest::Client::new()
        .get(daemon.at("/api/logs"))
        .query(&[("q", "service:auth"), ("limit", "1000")])
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    let page: logstream_shared::api::LogsPage = response.json().await.unwrap();
    assert_eq!(page.data.len(), stored);

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

/// `--role worker` serves its own router (metrics and health), served here
/// in this process: a worker process needs ClickHouse and Kafka.
#[tokio::test]
async fn the_worker_guards_every_endpoint_by_scope() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("duckdb://{}", dir.path().join("logs.duckdb").display());
    let tokens = format!("ingest:{INGEST},read:{READ},admin:{ADMIN}");
    // A worker that is consuming: health answers 200.
    let worker = WorkerHealth::default();
    worker.set(WorkerStatus::Consuming);
    let router = worker_router(WorkerState {
        store: logstreamd::store::open(&url).await.unwrap(),
        metrics: Arc::new(Metrics::default()),
        tokens: Tokens::load(None, Some(&Secret::new(tokens))).unwrap(),
        worker,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(check_routes(&base, WORKER_ROUTES).await, 0);
}

/// The paths given to `.route(…)` in the API's sources, tests left out.
fn routes_in_the_sources(dir: &std::path::Path, paths: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            routes_in_the_sources(&path, paths);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests build routers of their own.
            let served = text.split("#[cfg(test)]").next().unwrap();
            for call in served.split(".route(").skip(1) {
                let literal = call.trim_start().strip_prefix('"').unwrap_or_else(|| {
                    panic!("{}: a route whose path is not a literal", path.display())
                });
                paths.push(literal[..literal.find('"').unwrap()].to_string());
            }
        }
    }
}

/// The guard answers 500 for a route missing from the tables, so a new
/// endpoint's own tests find it; this finds it too, and a table entry
/// removed while its route is still served.
#[test]
fn the_route_tables_list_every_route_in_the_sources() {
    let mut in_sources = Vec::new();
    routes_in_the_sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api"),
        &mut in_sources,
    );
    in_sources.sort();
    let mut in_tables: Vec<String> = ROUTES
        .iter()
        .chain(WORKER_ROUTES)
        .map(|route| route.path.to_string())
        .collect();
    in_tables.sort();
    in_tables.dedup();
    assert_eq!(in_sources, in_tables);
}

#[tokio::test]
async fn without_tokens_the_api_stays_open() {
    let daemon = TestDaemon::start();
    let base = daemon.at("");
    let base = base.as_str();
    for (method, path, _) in guarded(ROUTES) {
        let path = path.as_str();
        assert!(
            status(base, method, path, None).await.is_success(),
            "{method} {path}"
        );
        // A token is ignored when none is configured.
        assert!(
            status(base, method, path, Some(READ)).await.is_success(),
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
        let response = call(&daemon.url, "GET", "/api/health", token).await;
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
