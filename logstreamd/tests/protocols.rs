//! The ingest protocols end to end: real third-party client libraries
//! (OpenTelemetry SDKs, winston-loki, python-logging-loki, elasticsearch-py;
//! drivers in `testkit/clients/`) send to a real daemon, and every record
//! must be stored exactly once with its service, level, timestamp, host,
//! trace ids and attributes. Then hand-written bad input per protocol: each
//! gets a clear error, the daemon stays healthy, and good records in the same
//! or the next request are stored.
//!
//! The client tests are `#[ignore]`d because they need the clients that
//! `scripts/clients install` puts in place; `scripts/test` installs them and
//! runs with `--include-ignored`. Run alone with
//! `. <(scripts/clients env) && cargo test -p logstreamd --test protocols -- --include-ignored`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, fetch_all};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const INGEST_TOKEN: &str = "ingest-token-protocols-3f9a1c7e";
const READ_TOKEN: &str = "read-token-protocols-8b2d4e6f";

// ---------------------------------------------------------------------------
// Daemons and plain requests
// ---------------------------------------------------------------------------

/// A daemon, open or requiring tokens, and an HTTP client that may read it.
struct Setup {
    daemon: TestDaemon,
    reader: reqwest::Client,
    token: Option<&'static str>,
}

impl Setup {
    fn open() -> Setup {
        Setup {
            daemon: TestDaemon::start(),
            reader: reqwest::Client::new(),
            token: None,
        }
    }

    /// A daemon with an ingest and a read token; the reader sends the read token.
    fn with_tokens() -> Setup {
        let tokens = format!("ingest:{INGEST_TOKEN},read:{READ_TOKEN}");
        let daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_TOKENS", &tokens)]);
        let mut headers = header::HeaderMap::new();
        let bearer = format!("Bearer {READ_TOKEN}");
        headers.insert(header::AUTHORIZATION, bearer.parse().unwrap());
        let reader = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        Setup {
            daemon,
            reader,
            token: Some(INGEST_TOKEN),
        }
    }

    /// Every stored record whose attribute `run` is `run`.
    async fn stored(&self, run: &str) -> Vec<LogRecord> {
        fetch_all(&self.reader, &self.daemon, &format!("run={run}")).await
    }

    async fn assert_healthy(&self) {
        let health = reqwest::get(self.daemon.at("/api/health")).await.unwrap();
        assert_eq!(
            health.status(),
            StatusCode::OK,
            "the daemon is not healthy; its log:\n{}",
            self.daemon.log()
        );
    }

    /// The stored messages of `run` are exactly `messages`.
    async fn assert_messages(&self, run: &str, messages: &[String]) {
        let stored = self.stored(run).await;
        let mut got: Vec<&str> = stored.iter().map(|r| r.message.as_str()).collect();
        got.sort_unstable();
        let mut want: Vec<&str> = messages.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(got, want, "stored messages of run {run}");
    }
}

async fn post(
    daemon: &TestDaemon,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(daemon.at(path)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The status and body text of an answer.
async fn answer(response: reqwest::Response) -> (StatusCode, header::HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, headers, text)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------------
// The real clients
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Runtime {
    Python,
    Node,
}

/// One driver of `testkit/clients/`.
#[derive(Debug, Clone, Copy)]
struct Client {
    runtime: Runtime,
    script: &'static str,
}

const OTLP_PYTHON: Client = Client {
    runtime: Runtime::Python,
    script: "otlp_python.py",
};
const OTLP_NODE: Client = Client {
    runtime: Runtime::Node,
    script: "otlp_node.mjs",
};
const LOKI_WINSTON: Client = Client {
    runtime: Runtime::Node,
    script: "loki_winston.mjs",
};
const LOKI_PYTHON: Client = Client {
    runtime: Runtime::Python,
    script: "loki_python.py",
};
const ELASTIC_PYTHON: Client = Client {
    runtime: Runtime::Python,
    script: "elastic_python.py",
};

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: the protocol tests need the real clients; run \
             `scripts/clients install && . <(scripts/clients env)` first (scripts/test does both)"
        ),
    }
}

fn driver_path(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit/clients")
        .join(script)
}

/// Runs the driver against `daemon` and returns the records it expects
/// stored, one JSON object per line of its output. Fails the test when the
/// client reports a failure (a non-zero exit), with its stderr.
async fn run_client(
    client: Client,
    daemon: &TestDaemon,
    run: &str,
    count: usize,
    token: Option<&str>,
    extra: &[&str],
) -> Vec<Value> {
    let mut command = match client.runtime {
        Runtime::Python => tokio::process::Command::new(required_env("LOGSTREAM_CLIENTS_PYTHON")),
        Runtime::Node => {
            required_env("LOGSTREAM_CLIENTS_NODE_MODULES");
            tokio::process::Command::new("node")
        }
    };
    let count_text = count.to_string();
    command
        .arg(driver_path(client.script))
        .args(["--url", &daemon.url, "--count", &count_text, "--run", run])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    let what = format!("{} {}", client.script, extra.join(" "));
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 90 s"))
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}): the client reported a failed delivery\n--- its stderr:\n{stderr}\n--- the daemon's log (last lines):\n{}",
        output.status,
        last_lines(&daemon.log(), 30)
    );
    let stdout = String::from_utf8(output.stdout).expect("the driver prints UTF-8");
    let expected: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(json_of)
        .collect();
    assert_eq!(
        expected.len(),
        count,
        "{what} printed {} expected records, not {count}; stderr:\n{stderr}",
        expected.len()
    );
    expected
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// How the stored attributes must relate to the expected ones.
#[derive(Debug, Clone, Copy)]
enum Attributes {
    /// Exactly the expected ones: the protocol adds nothing.
    Exact,
    /// The expected ones, plus only keys with these prefixes (what OTLP adds
    /// from the scope and the resource).
    PlusPrefixes(&'static [&'static str]),
}

/// What OTLP adds besides the record's own attributes.
const OTLP_EXTRAS: Attributes =
    Attributes::PlusPrefixes(&["otel.scope.", "telemetry.sdk.", "service.instance.id"]);

/// The daemon's flattening of a JSON attribute: strings as they are,
/// numbers, booleans and arrays as their compact JSON text, nested objects
/// as one attribute per leaf with dotted keys.
fn flatten(out: &mut BTreeMap<String, String>, key: String, value: &Value) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, inner) in map {
                flatten(out, format!("{key}.{name}"), inner);
            }
        }
        Value::String(text) => {
            out.insert(key, text.clone());
        }
        other => {
            out.insert(key, other.to_string());
        }
    }
}

fn expected_attributes(expected: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(map)) = expected.get("attributes") {
        for (key, value) in map {
            flatten(&mut out, key.clone(), value);
        }
    }
    out
}

/// Every expected record is stored exactly once (matched by message) with
/// the expected service, level, host, trace and span ids and attributes; its
/// timestamp is the expected one to the nanosecond (the drivers print it at
/// the precision the client carries) or, where the client sends none of its
/// own, within `window`. Lists every difference.
fn compare(
    stored: &[LogRecord],
    expected: &[Value],
    attributes: Attributes,
    window: (DateTime<Utc>, DateTime<Utc>),
) {
    let mut problems = Vec::new();
    let mut by_message: BTreeMap<&str, Vec<&LogRecord>> = BTreeMap::new();
    for record in stored {
        by_message.entry(&record.message).or_default().push(record);
    }
    for (message, records) in &by_message {
        if records.len() > 1 {
            problems.push(format!("stored {} times: {message:?}", records.len()));
        }
    }
    let expected_messages: BTreeSet<&str> = expected
        .iter()
        .map(|e| e["message"].as_str().expect("an expected message"))
        .collect();
    for message in by_message.keys() {
        if !expected_messages.contains(message) {
            problems.push(format!("stored but never sent: {message:?}"));
        }
    }
    for want in expected {
        let message = want["message"].as_str().unwrap();
        let Some(got) = by_message.get(message).and_then(|r| r.first()) else {
            problems.push(format!("missing: {message:?}"));
            continue;
        };
        let text = |v: &Value| v.as_str().map(str::to_string);
        let level: Level = want["level"].as_str().unwrap().parse().unwrap();
        let stamp = got
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut fields = vec![
            (
                "service",
                got.service.clone(),
                text(&want["service"]).unwrap(),
            ),
            ("level", got.level.to_string(), level.to_string()),
            (
                "host",
                format!("{:?}", got.host),
                format!("{:?}", text(&want["host"])),
            ),
            (
                "trace_id",
                format!("{:?}", got.trace_id),
                format!("{:?}", text(&want["trace_id"])),
            ),
            (
                "span_id",
                format!("{:?}", got.span_id),
                format!("{:?}", text(&want["span_id"])),
            ),
        ];
        match want["timestamp"].as_str() {
            Some(time) => {
                let time: DateTime<Utc> = time.parse().expect("an RFC 3339 expected timestamp");
                let time = time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                fields.push(("timestamp", stamp, time));
            }
            None if got.timestamp < window.0 || got.timestamp > window.1 => problems.push(format!(
                "{message:?}: timestamp {stamp} is outside the test's time window {} .. {}",
                window.0, window.1
            )),
            None => {}
        }
        let want_attributes = expected_attributes(want);
        let got_attributes: BTreeMap<&String, &String> = match attributes {
            Attributes::Exact => got.attributes.iter().collect(),
            Attributes::PlusPrefixes(prefixes) => got
                .attributes
                .iter()
                .filter(|(k, _)| {
                    want_attributes.contains_key(*k) || !prefixes.iter().any(|p| k.starts_with(p))
                })
                .collect(),
        };
        let want_attributes: BTreeMap<&String, &String> = want_attributes.iter().collect();
        fields.push((
            "attributes",
            format!("{got_attributes:?}"),
            format!("{want_attributes:?}"),
        ));
        for (field, got, want) in fields {
            if got != want {
                problems.push(format!("{message:?}: {field} is {got}, expected {want}"));
            }
        }
    }
    if stored.len() != expected.len() {
        problems.insert(
            0,
            format!("stored {} records, sent {}", stored.len(), expected.len()),
        );
    }
    const SHOWN: usize = 25;
    assert!(
        problems.is_empty(),
        "{} problem(s) with the stored records:\n{}{}",
        problems.len(),
        problems[..problems.len().min(SHOWN)].join("\n"),
        if problems.len() > SHOWN { "\n…" } else { "" }
    );
}

/// Runs a client against a fresh daemon (requiring tokens when `tokens`,
/// which the client then sends as it does) and checks what was stored.
async fn round_trip(
    client: Client,
    extra: &[&str],
    count: usize,
    tokens: bool,
    attributes: Attributes,
) {
    let setup = if tokens {
        Setup::with_tokens()
    } else {
        Setup::open()
    };
    let run = format!(
        "{}-{}",
        client.script.split('.').next().unwrap().replace('_', "-"),
        uuid_like()
    );
    let started = Utc::now();
    let expected = run_client(client, &setup.daemon, &run, count, setup.token, extra).await;
    let finished = Utc::now();
    let stored = setup.stored(&run).await;
    compare(&stored, &expected, attributes, (started, finished));
    setup.assert_healthy().await;
}

/// A run id unique to this process and call.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}x{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_micros()
    )
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn otlp_python_protobuf_with_bearer_token() {
    // Batches of 512: three exports.
    round_trip(OTLP_PYTHON, &[], 1200, true, OTLP_EXTRAS).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn otlp_python_protobuf_gzip() {
    round_trip(OTLP_PYTHON, &["--gzip"], 1200, false, OTLP_EXTRAS).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn otlp_node_json_chunked() {
    round_trip(OTLP_NODE, &[], 1200, false, OTLP_EXTRAS).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn otlp_node_json_gzip_with_bearer_token() {
    round_trip(OTLP_NODE, &["--gzip"], 1200, true, OTLP_EXTRAS).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn loki_winston_snappy_protobuf_with_basic_auth() {
    round_trip(LOKI_WINSTON, &[], 1000, true, Attributes::Exact).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn loki_winston_json() {
    round_trip(LOKI_WINSTON, &["--json"], 1000, false, Attributes::Exact).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn loki_python_one_request_per_record_with_basic_auth() {
    round_trip(LOKI_PYTHON, &[], 200, true, Attributes::Exact).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn elastic_python_bulk_into_index_with_basic_auth() {
    // helpers.bulk sends chunks of 500: three requests.
    round_trip(ELASTIC_PYTHON, &[], 1200, true, Attributes::Exact).await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn elastic_python_bulk_with_per_doc_index() {
    round_trip(
        ELASTIC_PYTHON,
        &["--per-doc-index"],
        1200,
        false,
        Attributes::Exact,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real protocol clients (scripts/test installs them)"]
async fn clients_without_a_token_are_refused_by_a_daemon_that_needs_one() {
    let setup = Setup::with_tokens();
    let python = required_env("LOGSTREAM_CLIENTS_PYTHON");
    required_env("LOGSTREAM_CLIENTS_NODE_MODULES");
    for client in [OTLP_PYTHON, LOKI_WINSTON, ELASTIC_PYTHON] {
        let program = match client.runtime {
            Runtime::Python => python.clone(),
            Runtime::Node => "node".to_string(),
        };
        let run = format!("refused-{}", uuid_like());
        let output = tokio::process::Command::new(program)
            .arg(driver_path(client.script))
            .args(["--url", &setup.daemon.url, "--count", "3", "--run", &run])
            .args(["--token", "not-a-token-the-daemon-knows"])
            .output()
            .await
            .unwrap();
        assert!(
            !output.status.success(),
            "{} reported success with an unknown token",
            client.script
        );
        assert!(setup.stored(&run).await.is_empty(), "{}", client.script);
    }
    setup.assert_healthy().await;
}

// ---------------------------------------------------------------------------
// Hand-written requests: good ones to prove the daemon still stores, and bad
// ones per protocol
// ---------------------------------------------------------------------------

fn string_value(text: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(text.to_string())),
    })
}

fn key_value(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: string_value(value),
        ..KeyValue::default()
    }
}

/// An OTLP request with one record per time (0: none), messages `RUN #i`.
fn otlp_request(run: &str, times: &[u64]) -> ExportLogsServiceRequest {
    let records = times
        .iter()
        .enumerate()
        .map(|(i, time)| OtlpRecord {
            time_unix_nano: *time,
            severity_text: "WARN".into(),
            body: string_value(&format!("{run} #{i}")),
            attributes: vec![key_value("run", run)],
            ..OtlpRecord::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![key_value("service.name", "hand-written")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// An OTLP/JSON body with one record per message.
fn otlp_json(run: &str, messages: &[String]) -> String {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({"body": {"stringValue": m},
                   "attributes": [{"key": "run", "value": {"stringValue": run}}]})
        })
        .collect();
    json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "hand-written"}}]},
        "scopeLogs": [{"logRecords": records}]}]})
    .to_string()
}

/// A Loki JSON push with one entry per `(timestamp, line)`.
fn loki_json(run: &str, entries: &[(String, String)]) -> String {
    let values: Vec<Value> = entries.iter().map(|(t, l)| json!([t, l])).collect();
    json!({"streams": [{"stream": {"service_name": "hand-written", "run": run}, "values": values}]})
        .to_string()
}

fn now_ns() -> String {
    Utc::now().timestamp_nanos_opt().unwrap().to_string()
}

/// An Elasticsearch bulk body indexing one document per message.
fn bulk_body(run: &str, messages: &[String]) -> String {
    messages
        .iter()
        .map(|m| {
            format!(
                "{{\"index\":{{}}}}\n{}\n",
                json!({"message": m, "run": run})
            )
        })
        .collect()
}

/// `google.rpc.Status`, OTLP's error body.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test]
async fn otlp_bad_input_gets_clear_errors_and_good_records_are_stored() {
    let setup = Setup::open();
    let daemon = &setup.daemon;
    let protobuf = [("content-type", "application/x-protobuf")];
    let json_type = [("content-type", "application/json")];

    // Truncated protobuf: 400, a google.rpc.Status in protobuf naming it.
    let mut body = otlp_request("truncated", &[1_700_000_000_000_000_000; 3]).encode_to_vec();
    body.truncate(body.len() - 7);
    let (status, headers, _) =
        answer(post(daemon, "/v1/logs", &protobuf, body.clone()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
    let response = post(daemon, "/v1/logs", &protobuf, body).await;
    let error = Status::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(error.code, 3, "INVALID_ARGUMENT");
    assert!(
        error
            .message
            .contains("not an OTLP ExportLogsServiceRequest in protobuf"),
        "{}",
        error.message
    );
    assert!(setup.stored("truncated").await.is_empty());

    // OTLP/JSON with wrong types: 400 with the JSON error's place.
    let wrong = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon","body":{"stringValue":5}}]}]}]}"#;
    let (status, _, text) = answer(post(daemon, "/v1/logs", &json_type, wrong).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let error = json_of(&text);
    assert_eq!(error["code"], 3);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("in JSON") && message.contains("line 1 column"),
        "{message}"
    );

    // A content type OTLP does not have: 415 naming it.
    let (status, _, text) = answer(
        post(
            daemon,
            "/v1/logs",
            &[("content-type", "text/plain")],
            "hello",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let error = Status::decode(text.as_bytes()).unwrap();
    assert!(
        error.message.contains("\"text/plain\"")
            && error.message.contains("application/x-protobuf"),
        "{}",
        error.message
    );

    // A record after 2262 among good ones, protobuf: the others are stored,
    // partial_success counts it.
    let run = format!("otlp-2262-{}", uuid_like());
    let ok = 1_700_000_000_000_000_000;
    let request = otlp_request(&run, &[ok, u64::MAX, ok + 1, 0]);
    let response = post(daemon, "/v1/logs", &protobuf, request.encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer_pb = ExportLogsServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = answer_pb.partial_success.expect("partial_success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial.error_message.contains("record 1") && partial.error_message.contains("2262"),
        "{}",
        partial.error_message
    );
    let good: Vec<String> = [0, 2, 3].iter().map(|i| format!("{run} #{i}")).collect();
    setup.assert_messages(&run, &good).await;
    let stored = setup.stored(&run).await;
    let first = stored.iter().find(|r| r.message == good[0]).unwrap();
    assert_eq!(first.timestamp.timestamp_nanos_opt(), Some(ok as i64));
    assert_eq!(first.level, Level::Warn);
    assert_eq!(first.service, "hand-written");

    // The same in JSON.
    let run = format!("otlp-2262-json-{}", uuid_like());
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1700000000000000000", "body": {"stringValue": format!("{run} ok")},
         "attributes": [{"key": "run", "value": {"stringValue": run}}]},
        {"timeUnixNano": "18446744073709551615", "body": {"stringValue": format!("{run} late")},
         "attributes": [{"key": "run", "value": {"stringValue": run}}]}]}]}]});
    let (status, _, text) =
        answer(post(daemon, "/v1/logs", &json_type, body.to_string()).await).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let partial = &json_of(&text)["partialSuccess"];
    assert!(
        partial["rejectedLogRecords"] == 1 || partial["rejectedLogRecords"] == "1",
        "{text}"
    );
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("18446744073709551615"),
        "{text}"
    );
    setup.assert_messages(&run, &[format!("{run} ok")]).await;
    // The protobuf and the JSON request each had one record not taken.
    let rejected = logstream_testkit::metric(daemon, "logstream_rejected_records_total").await;
    assert_eq!(rejected, 2.0);

    // Healthy, and the next good request is stored.
    setup.assert_healthy().await;
    let run = format!("otlp-after-{}", uuid_like());
    let messages = vec![format!("{run} a"), format!("{run} b")];
    let (status, _, text) =
        answer(post(daemon, "/v1/logs", &json_type, otlp_json(&run, &messages)).await).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
    setup.assert_messages(&run, &messages).await;
}

#[tokio::test]
async fn loki_bad_input_gets_clear_errors_and_good_entries_are_stored() {
    let setup = Setup::open();
    let daemon = &setup.daemon;
    let json_type = [("content-type", "application/json")];
    let push = "/loki/api/v1/push";

    // Not snappy: 400 in plain text naming it.
    let (status, headers, text) = answer(
        post(
            daemon,
            push,
            &[("content-type", "application/x-protobuf")],
            "not snappy",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{headers:?}"
    );
    assert!(text.contains("snappy"), "{text}");

    // One bad timestamp among good entries: 400 naming it, the others stored.
    let run = format!("loki-ts-{}", uuid_like());
    let entries = vec![
        (now_ns(), format!("{run} good 0")),
        ("soon".to_string(), format!("{run} bad 1")),
        (now_ns(), format!("{run} good 2")),
    ];
    let (status, headers, text) =
        answer(post(daemon, push, &json_type, loki_json(&run, &entries)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{headers:?}"
    );
    assert!(
        text.contains("record 1") && text.contains("\"soon\""),
        "{text}"
    );
    setup
        .assert_messages(&run, &[entries[0].1.clone(), entries[2].1.clone()])
        .await;

    // Invalid UTF-8 in a line: 400 naming the JSON problem; nothing stored.
    let run = format!("loki-utf8-{}", uuid_like());
    let mut body = loki_json(&run, &[(now_ns(), "bad XX line".into())]).into_bytes();
    let at = body.windows(2).position(|w| w == b"XX").unwrap();
    body[at] = 0xff;
    body[at + 1] = 0xfe;
    let (status, _, text) = answer(post(daemon, push, &json_type, body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        text.contains("not a Loki push in JSON") && text.contains("unicode"),
        "{text}"
    );
    assert!(setup.stored(&run).await.is_empty());

    // Healthy, and the next good push is stored: exactly 204, no body.
    setup.assert_healthy().await;
    let run = format!("loki-after-{}", uuid_like());
    let entries = vec![
        (now_ns(), format!("{run} a")),
        (now_ns(), format!("{run} b")),
    ];
    let (status, _, text) =
        answer(post(daemon, push, &json_type, loki_json(&run, &entries)).await).await;
    assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    let messages: Vec<String> = entries.into_iter().map(|(_, l)| l).collect();
    setup.assert_messages(&run, &messages).await;
}

fn assert_elastic_header(headers: &header::HeaderMap, what: &str) {
    assert_eq!(
        headers
            .get("x-elastic-product")
            .map(|v| v.to_str().unwrap()),
        Some("Elasticsearch"),
        "{what}: {headers:?}"
    );
}

#[tokio::test]
async fn elastic_bad_input_gets_per_item_errors_and_good_documents_are_stored() {
    let setup = Setup::open();
    let daemon = &setup.daemon;
    let ndjson = [("content-type", "application/x-ndjson")];

    // GET / answers like Elasticsearch 8.
    let response = reqwest::get(daemon.at("/")).await.unwrap();
    let (status, headers, text) = answer(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_elastic_header(&headers, "GET /");
    let info = json_of(&text);
    assert!(
        info["version"]["number"]
            .as_str()
            .unwrap()
            .starts_with("8."),
        "{text}"
    );
    assert_eq!(info["tagline"], "You Know, for Search");

    // One bad document among good ones: 200, errors, that item 400.
    let run = format!("es-bad-doc-{}", uuid_like());
    let good = [format!("{run} good 0"), format!("{run} good 2")];
    let body = format!(
        "{}{{\"index\":{{}}}}\n{{not json\n{}",
        bulk_body(&run, &good[..1]),
        bulk_body(&run, &good[1..])
    );
    let (status, headers, text) =
        answer(post(daemon, "/logs-bad/_bulk", &ndjson, body).await).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_elastic_header(&headers, "bulk with a bad document");
    let bulk = json_of(&text);
    assert_eq!(bulk["errors"], true, "{text}");
    let statuses: Vec<&Value> = bulk["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["index"]["status"])
        .collect();
    assert_eq!(statuses, [&json!(201), &json!(400), &json!(201)], "{text}");
    let error = &bulk["items"][1]["index"]["error"];
    assert_eq!(error["type"], "document_parsing_exception", "{text}");
    assert!(
        error["reason"].as_str().unwrap().contains("not valid JSON"),
        "{text}"
    );
    setup.assert_messages(&run, &good).await;
    let stored = setup.stored(&run).await;
    assert!(stored.iter().all(|r| r.service == "logs-bad"), "{stored:?}");

    // A delete action: answered per item with an error naming it.
    let run = format!("es-delete-{}", uuid_like());
    let kept = [format!("{run} kept")];
    let body = format!(
        "{{\"delete\":{{\"_id\":\"1\"}}}}\n{}",
        bulk_body(&run, &kept)
    );
    let (status, headers, text) = answer(post(daemon, "/_bulk", &ndjson, body).await).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_elastic_header(&headers, "bulk with a delete");
    let bulk = json_of(&text);
    assert_eq!(bulk["errors"], true);
    assert_eq!(bulk["items"][0]["delete"]["status"], 400, "{text}");
    assert!(
        bulk["items"][0]["delete"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("\"delete\" is not supported"),
        "{text}"
    );
    assert_eq!(bulk["items"][1]["index"]["status"], 201, "{text}");
    setup.assert_messages(&run, &kept).await;

    // No action line: the whole request is refused, naming the line.
    let run = format!("es-no-action-{}", uuid_like());
    let body = format!("{}\n", json!({"message": format!("{run} x"), "run": run}));
    let (status, headers, text) = answer(post(daemon, "/_bulk", &ndjson, body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_elastic_header(&headers, "bulk without an action");
    let error = json_of(&text);
    assert_eq!(error["status"], 400);
    let reason = error["error"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("line 1") && reason.contains("action"),
        "{reason}"
    );
    assert!(setup.stored(&run).await.is_empty());
    // The bad document and the delete, each an item with status 400.
    let rejected = logstream_testkit::metric(daemon, "logstream_rejected_records_total").await;
    assert_eq!(rejected, 2.0);

    setup.assert_healthy().await;
    let run = format!("es-after-{}", uuid_like());
    let messages = [format!("{run} a"), format!("{run} b")];
    let (status, headers, text) =
        answer(post(daemon, "/_bulk", &ndjson, bulk_body(&run, &messages)).await).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_elastic_header(&headers, "good bulk");
    assert_eq!(json_of(&text)["errors"], false, "{text}");
    setup.assert_messages(&run, &messages).await;
}

#[tokio::test]
async fn every_protocol_takes_tokens_as_its_clients_send_them_and_elastic_401s_are_elastic() {
    use base64::Engine as _;
    let setup = Setup::with_tokens();
    let daemon = &setup.daemon;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("logstream:{INGEST_TOKEN}"))
    );
    let bearer = format!("Bearer {INGEST_TOKEN}");

    // Without a token: 401 everywhere; Elasticsearch paths keep their header.
    for (method, path) in [("GET", "/"), ("POST", "/_bulk"), ("PUT", "/logs-x/_bulk")] {
        let request = reqwest::Client::new().request(method.parse().unwrap(), daemon.at(path));
        let (status, headers, _) = answer(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_elastic_header(&headers, &format!("{method} {path} without a token"));
    }
    for path in ["/v1/logs", "/loki/api/v1/push"] {
        let response = post(daemon, path, &[("content-type", "application/json")], "{}").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let response = reqwest::Client::new()
        .get(daemon.at("/"))
        .header(header::AUTHORIZATION, &basic)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_elastic_header(response.headers(), "GET / with a token");

    let run = format!("tokens-{}", uuid_like());
    let otlp = [format!("{run} otlp")];
    let response = post(
        daemon,
        "/v1/logs",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer),
        ],
        otlp_json(&run, &otlp),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let loki = (now_ns(), format!("{run} loki"));
    let response = post(
        daemon,
        "/loki/api/v1/push",
        &[
            ("content-type", "application/json"),
            ("authorization", &basic),
        ],
        loki_json(&run, std::slice::from_ref(&loki)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let elastic = [format!("{run} elastic")];
    let response = reqwest::Client::new()
        .put(daemon.at("/logs-x/_bulk"))
        .header("content-type", "application/x-ndjson")
        .header(header::AUTHORIZATION, &basic)
        .body(bulk_body(&run, &elastic))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_elastic_header(response.headers(), "bulk with a token");
    setup
        .assert_messages(&run, &[otlp[0].clone(), loki.1, elastic[0].clone()])
        .await;
}

// ---------------------------------------------------------------------------
// Decompression bombs
// ---------------------------------------------------------------------------

/// `chunks` MiB of zeros as gzip, never held uncompressed and without
/// compressing every chunk: each chunk ends in a full flush, which resets
/// the compressor, so every chunk after the first compresses to the same
/// bytes; those are repeated. The trailer's CRC is combined from the chunk's.
fn gzip_zeros(chunks: usize) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut compress = |input: &[u8], flush| {
        let mut out = Vec::with_capacity(CHUNK + 1024);
        let before = deflate.total_in();
        let status = deflate.compress_vec(input, &mut out, flush).unwrap();
        assert_eq!(
            deflate.total_in() - before,
            input.len() as u64,
            "{status:?}"
        );
        out
    };
    let first = compress(&zeros, flate2::FlushCompress::Full);
    let repeated = compress(&zeros, flate2::FlushCompress::Full);
    assert_eq!(
        compress(&zeros, flate2::FlushCompress::Full),
        repeated,
        "a full flush makes chunks compress alike"
    );
    let end = compress(&[], flate2::FlushCompress::Finish);
    let mut gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff];
    gzip.extend_from_slice(&first);
    for _ in 1..chunks {
        gzip.extend_from_slice(&repeated);
    }
    gzip.extend_from_slice(&end);
    let mut chunk_crc = flate2::Crc::new();
    chunk_crc.update(&zeros);
    let mut crc = flate2::Crc::new();
    for _ in 0..chunks {
        crc.combine(&chunk_crc);
    }
    gzip.extend_from_slice(&crc.sum().to_le_bytes());
    gzip.extend_from_slice(&((chunks * CHUNK) as u32).to_le_bytes());
    gzip
}

/// 1 GiB of zeros, gzip-compressed (about 1 MB).
fn gzip_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| gzip_zeros(1024))
}

#[test]
fn the_bomb_is_valid_gzip() {
    use std::io::Read;
    let small = gzip_zeros(5);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(small.as_slice())
        .read_to_end(&mut decoded)
        .expect("valid gzip, CRC and length included");
    assert_eq!(decoded.len(), 5 << 20);
    assert!(decoded.iter().all(|b| *b == 0));
    assert!(gzip_bomb().len() < 4 << 20, "{}", gzip_bomb().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bombs_get_413_on_every_protocol_and_the_daemon_stays_healthy() {
    let setup = Setup::open();
    let daemon = &setup.daemon;
    let bomb = tokio::task::spawn_blocking(gzip_bomb).await.unwrap();
    for (path, content_type) in [
        ("/v1/logs", "application/x-protobuf"),
        ("/v1/logs", "application/json"),
        ("/loki/api/v1/push", "application/json"),
        ("/_bulk", "application/x-ndjson"),
    ] {
        let response = post(
            daemon,
            path,
            &[("content-type", content_type), ("content-encoding", "gzip")],
            bomb.to_vec(),
        )
        .await;
        let (status, headers, text) = answer(response).await;
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{path} ({content_type}): {text}"
        );
        if path == "/_bulk" {
            assert_elastic_header(&headers, "413 of /_bulk");
            assert!(text.contains("content_too_long_exception"), "{text}");
        }
        setup.assert_healthy().await;
    }

    // Each protocol still stores what comes next.
    let run = format!("after-bombs-{}", uuid_like());
    let json_type = [("content-type", "application/json")];
    let otlp = [format!("{run} otlp")];
    let response = post(daemon, "/v1/logs", &json_type, otlp_json(&run, &otlp)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let loki = (now_ns(), format!("{run} loki"));
    let body = loki_json(&run, std::slice::from_ref(&loki));
    let response = post(daemon, "/loki/api/v1/push", &json_type, body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let elastic = [format!("{run} elastic")];
    let response = post(
        daemon,
        "/_bulk",
        &[("content-type", "application/x-ndjson")],
        bulk_body(&run, &elastic),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    setup
        .assert_messages(&run, &[otlp[0].clone(), loki.1, elastic[0].clone()])
        .await;
}

// ---------------------------------------------------------------------------
// Shipper field names on /api/ingest
// ---------------------------------------------------------------------------

/// The stored records of a query, each as one line of what the shipper
/// tests check (time to the microsecond), sorted.
async fn shipped(setup: &Setup, q: &str) -> Vec<String> {
    let mut lines: Vec<String> = fetch_all(&setup.reader, &setup.daemon, q)
        .await
        .iter()
        .map(|r| {
            let time = r
                .timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            format!(
                "{} | {} | {time} | {} | host {:?} | {:?}",
                r.service, r.message, r.level, r.host, r.attributes
            )
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn fluent_bit_records_map_through_field_names_in_the_query_and_in_headers() {
    let setup = Setup::open();
    let daemon = &setup.daemon;

    // Fluent Bit's http output, format json_lines, names in the query.
    let body = "{\"date\":1700000000.123456,\"log\":\"fluent-bit query one\",\"stream\":\"stdout\"}\n\
                {\"date\":1700000001.5,\"log\":\"fluent-bit query two\",\"stream\":\"stderr\"}\n";
    let path = "/api/ingest?message_field=log&time_field=date&service=fluentbit";
    let ndjson = [("content-type", "application/x-ndjson")];
    let (status, _, text) = answer(post(daemon, path, &ndjson, body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");

    // The same names in headers.
    let body = "{\"date\":1700000002.5,\"log\":\"fluent-bit header one\",\"stream\":\"stdout\"}\n";
    let headers = [
        ("content-type", "application/x-ndjson"),
        ("LogStream-Message-Field", "log"),
        ("LogStream-Time-Field", "date"),
        ("LogStream-Service", "fluentbit-h"),
    ];
    let (status, _, text) = answer(post(daemon, "/api/ingest", &headers, body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");

    assert_eq!(
        shipped(&setup, "fluent-bit").await,
        [
            r#"fluentbit | fluent-bit query one | 2023-11-14T22:13:20.123456Z | INFO | host None | {"stream": "stdout"}"#,
            r#"fluentbit | fluent-bit query two | 2023-11-14T22:13:21.500000Z | INFO | host None | {"stream": "stderr"}"#,
            r#"fluentbit-h | fluent-bit header one | 2023-11-14T22:13:22.500000Z | INFO | host None | {"stream": "stdout"}"#,
        ]
    );
    setup.assert_healthy().await;
}

/// Fluent Bit sends `date` as a double of seconds with six decimals; a
/// double near now carries about 0.24 µs, so the microseconds written are
/// the ones meant (even a quarter second, exact in binary, must not come
/// back as .249999).
#[tokio::test]
async fn fluent_bit_float_dates_keep_their_microseconds() {
    let setup = Setup::open();
    let dates = [
        "1700000002.654321",
        "1700000002.25",
        "1714564800.000001",
        "1714564800.999999",
    ];
    let body: String = dates
        .iter()
        .map(|d| format!("{{\"date\":{d},\"log\":\"float date {d}\"}}\n"))
        .collect();
    let path = "/api/ingest?message_field=log&time_field=date&service=fluentbit";
    let ndjson = [("content-type", "application/x-ndjson")];
    let (status, _, text) = answer(post(&setup.daemon, path, &ndjson, body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let stored = fetch_all(&setup.reader, &setup.daemon, "\"float date\"").await;
    let mut got: Vec<(String, i64)> = stored
        .iter()
        .map(|r| {
            let micros = r.timestamp.timestamp_nanos_opt().unwrap().div_euclid(1000);
            (r.message.clone(), micros)
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, i64)> = dates
        .iter()
        .map(|d| {
            let (secs, frac) = d.split_once('.').unwrap();
            let micros = secs.parse::<i64>().unwrap() * 1_000_000
                + format!("{frac:0<6}").parse::<i64>().unwrap();
            (format!("float date {d}"), micros)
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "stored (message, microseconds since the epoch)");
}

#[tokio::test]
async fn vector_http_sink_events_map_with_a_default_service() {
    let setup = Setup::open();
    // Vector's http sink (codec json): a JSON array of its events.
    let body = json!([
        {"message": "vector one", "timestamp": "2024-05-01T12:00:00.123Z", "host": "h", "source_type": "file"},
        {"message": "vector two", "timestamp": "2024-05-01T12:00:01.456789Z", "host": "h2", "source_type": "file"}
    ]);
    let json_type = [("content-type", "application/json")];
    let path = "/api/ingest?service=vector";
    let (status, _, text) =
        answer(post(&setup.daemon, path, &json_type, body.to_string()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(
        shipped(&setup, "service:vector").await,
        [
            r#"vector | vector one | 2024-05-01T12:00:00.123000Z | INFO | host Some("h") | {"source_type": "file"}"#,
            r#"vector | vector two | 2024-05-01T12:00:01.456789Z | INFO | host Some("h2") | {"source_type": "file"}"#,
        ]
    );
    setup.assert_healthy().await;
}

// ---------------------------------------------------------------------------
// --detect-layouts
// ---------------------------------------------------------------------------

/// Loki entries (no level label) and /api/ingest records (no level, no
/// time) whose text is a log4j line: stored with the line's level, and the
/// line's time where the protocol gave none; with --no-detect-layouts, as
/// they came (INFO).
#[tokio::test]
async fn records_without_a_level_take_the_one_their_text_carries_unless_turned_off() {
    let line = "2026-11-27 12:00:01,123 ERROR [main] com.example.App - boom";
    for (flags, level) in [
        (&[][..], Level::Error),
        (&["--no-detect-layouts"][..], Level::Info),
    ] {
        let daemon = TestDaemon::start_with_env(flags, &[("TZ", "UTC")]);
        let sent = now_ns();
        let body = loki_json("loki", &[(sent.clone(), line.to_string())]);
        let response = post(
            &daemon,
            "/loki/api/v1/push",
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let native = json!({"service": "api", "message": line, "attributes": {"run": "native"}});
        let response = post(
            &daemon,
            "/api/ingest",
            &[("content-type", "application/json")],
            native.to_string(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let client = reqwest::Client::new();
        let loki = fetch_all(&client, &daemon, "run=loki").await;
        let native = fetch_all(&client, &daemon, "run=native").await;
        assert_eq!((loki.len(), native.len()), (1, 1), "{flags:?}");
        assert_eq!(
            (loki[0].level, native[0].level),
            (level, level),
            "{flags:?}"
        );
        // Loki gave the time: it stays; /api/ingest gave none.
        assert_eq!(
            loki[0].timestamp.timestamp_nanos_opt().unwrap().to_string(),
            sent
        );
        let line_time: chrono::DateTime<Utc> = "2026-11-27T12:00:01.123Z".parse().unwrap();
        assert_eq!(
            native[0].timestamp == line_time,
            level == Level::Error,
            "{flags:?}"
        );
    }
}
