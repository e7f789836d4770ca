//! Connections that are slow, idle or too many, through a real daemon on
//! 127.0.0.1: each test guards a way a client could hold the daemon's
//! connections or file descriptors, or its shutdown, hostage.
//!
//! The settings are given as environment variables, which a daemon without
//! them ignores: the same tests then show the behaviour they guard against.

use std::time::{Duration, Instant};

use logstream_shared::api::ErrorBody;
use logstream_testkit::TestDaemon;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(daemon: &TestDaemon) -> TcpStream {
    TcpStream::connect(daemon.addr()).await.expect("connect")
}

/// Writes `request` one byte a second until the daemon answers or closes
/// the connection, for at most `limit`; returns how long that took and what
/// the daemon sent, or `None` if the connection was still open.
async fn send_slowly(
    stream: TcpStream,
    request: &[u8],
    limit: Duration,
) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let mut next = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            tokio::select! {
                n = read.read(&mut buf) => match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                },
                _ = tick.tick(), if next < request.len() => {
                    if write.write_all(&request[next..=next]).await.is_err() {
                        return;
                    }
                    next += 1;
                }
            }
        }
    })
    .await;
    closed.ok().map(|()| (start.elapsed(), received))
}

/// Headers that never end: a slowloris client's request.
const ENDLESS_HEADERS: &[u8] =
    b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn slow_header_senders_are_closed_within_the_header_timeout() {
    let daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_HEADER_TIMEOUT", "1s")]);
    let mut senders = Vec::new();
    for _ in 0..10 {
        let stream = connect(&daemon).await;
        senders.push(tokio::spawn(send_slowly(
            stream,
            ENDLESS_HEADERS,
            Duration::from_secs(8),
        )));
    }
    for sender in senders {
        let Some((after, answer)) = sender.await.unwrap() else {
            panic!("a client sending one header byte a second was still connected after 8 s");
        };
        assert!(
            after < Duration::from_secs(4),
            "closed only after {after:?}"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "answer before closing: {answer:?}"
        );
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body);
        let error: ErrorBody = serde_json::from_str(body.unwrap_or_default())
            .unwrap_or_else(|e| panic!("not the JSON error body ({e}): {answer:?}"));
        assert!(error.error.contains("header"), "{}", error.error);
    }
    // The daemon still serves everyone else.
    let health = reqwest::get(daemon.at("/api/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_HEADER_TIMEOUT", "1s")]);
    let mut stream = connect(&daemon).await;
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");

    // Kept alive, then idle: closed without a word once the timeout passes.
    let idle = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(8), stream.read(&mut buf))
        .await
        .expect("an idle keep-alive connection still open after 8 s");
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "sent {:?}",
        closed.map(|n| String::from_utf8_lossy(&buf[..n]).to_string())
    );
    assert!(
        idle.elapsed() < Duration::from_secs(4),
        "{:?}",
        idle.elapsed()
    );
}

/// How many connections past `--max-connections` the daemon answers 503 at
/// once (`serve::REFUSING_AT_ONCE`); the rest are closed as they come.
const REFUSING_AT_ONCE: u64 = 64;

/// The open-file limit of a running process, through util-linux `prlimit`.
fn limit_open_files(pid: u32, limit: u64) {
    let status = std::process::Command::new("prlimit")
        .args([format!("--pid={pid}"), format!("--nofile={limit}:{limit}")])
        .status()
        .expect("prlimit (util-linux) must be installed");
    assert!(status.success(), "prlimit failed");
}

fn open_files(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc")
        .count() as u64
}

#[tokio::test]
async fn idle_connections_beyond_max_connections_do_not_stop_a_normal_request() {
    let max_connections = 8;
    let daemon = TestDaemon::start_with_env(
        &[],
        &[
            ("LOGSTREAM_MAX_CONNECTIONS", "8"),
            // Idle connections stay for the whole test unless refused.
            ("LOGSTREAM_HEADER_TIMEOUT", "60s"),
        ],
    );
    // File descriptors for what the daemon has open now, the connections
    // it serves and refuses, and some to spare: idle sockets past that would
    // exhaust them if the daemon kept accepting.
    let limit = open_files(daemon.pid()) + max_connections + REFUSING_AT_ONCE + 32;
    limit_open_files(daemon.pid(), limit);
    let mut idle = Vec::new();
    for _ in 0..limit + 40 {
        idle.push(connect(&daemon).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = Instant::now();
    let response = client
        .get(daemon.at("/api/health"))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no answer with {} idle connections open ({e}); log:\n{}",
                idle.len(),
                daemon.log()
            )
        });
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    eprintln!("answered {} with idle connections open", response.status());
    match response.status() {
        StatusCode::OK => {}
        StatusCode::SERVICE_UNAVAILABLE => {
            assert!(
                response.headers().contains_key("retry-after"),
                "{response:?}"
            );
            let error: ErrorBody = response.json().await.expect("the JSON error body");
            assert!(error.error.contains("connections"), "{}", error.error);
        }
        other => panic!("status {other}"),
    }

    // Once the idle clients leave, everyone is served again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = client
            .get(daemon.at("/api/health"))
            .send()
            .await
            .map(|r| r.status());
        if let Ok(StatusCode::OK) = status {
            break;
        }
        assert!(Instant::now() < deadline, "still {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sigterm_closes_idle_and_slow_connections_and_answers_requests_in_flight() {
    // Long timeouts: connections must close because of the stop signal, not
    // because they timed out.
    let mut daemon = TestDaemon::start_with_env(&[], &[("LOGSTREAM_HEADER_TIMEOUT", "60s")]);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect(&daemon).await);
    }
    for _ in 0..5 {
        let mut slow = connect(&daemon).await;
        slow.write_all(&ENDLESS_HEADERS[..20]).await.unwrap();
        held.push(slow);
    }
    for _ in 0..3 {
        let mut kept_alive = connect(&daemon).await;
        kept_alive
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = kept_alive.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(kept_alive);
    }
    // A request whose headers and half its body have arrived.
    let body = br#"{"service":"s","message":"in flight at SIGTERM"}"#;
    let mut in_flight = connect(&daemon).await;
    let head = format!(
        "POST /api/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let start = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || {
        let status = daemon.terminate();
        (start.elapsed(), status, daemon)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    in_flight.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), in_flight.read_to_end(&mut answer))
        .await
        .expect("the request in flight was not answered within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");

    let (after, status, daemon) = stopped.await.unwrap();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        daemon.log()
    );
    assert!(
        after < Duration::from_secs(6),
        "stopped only {after:?} after SIGTERM; log:\n{}",
        daemon.log()
    );
    drop(held);
}

/// Sends `request` (while reading, so that a daemon that answers before
/// reading it all is heard) and returns the whole answer: the connection
/// is expected to close after it.
async fn answer_to(daemon: &TestDaemon, request: Vec<u8>) -> String {
    let (mut read, mut write) = connect(daemon).await.into_split();
    // The daemon may stop reading and close: a failed write is no error.
    // The write half is kept open until the answer is read: closing it
    // would make hyper drop the request.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&request).await;
        write
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer))
        .await
        .expect("the connection was still open 10 s after the request")
        .unwrap();
    drop(writer.await);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and JSON error body of an answer, which closes its connection.
fn refusal(answer: &str) -> (u16, ErrorBody) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3)?.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    assert!(
        head.contains("content-type: application/json"),
        "{answer:?}"
    );
    let error = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("not the JSON error body ({e}): {answer:?}"));
    (status, error)
}

fn get(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n")
        .into_bytes()
}

#[tokio::test]
async fn a_query_string_over_the_uri_limit_gets_414_with_the_json_error() {
    let daemon = TestDaemon::start();
    let target = format!("/api/logs?q={}", "a".repeat(70 * 1024));
    let (status, error) = refusal(&answer_to(&daemon, get(&target, "")).await);
    assert_eq!(status, 414);
    assert!(error.error.contains("65534 bytes"), "{}", error.error);
}

#[tokio::test]
async fn headers_over_the_header_limit_get_431_with_the_json_error() {
    let daemon = TestDaemon::start();
    let big = format!("X-Big: {}\r\n", "b".repeat(70 * 1024));
    // Refused by the daemon (70 KiB), by hyper's read buffer (500 KiB), and
    // by hyper's count of headers.
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = format!("X-Huge: {}\r\n", "h".repeat(500 * 1024));
    for headers in [big, huge, many] {
        let (status, error) = refusal(&answer_to(&daemon, get("/api/logs", &headers)).await);
        assert_eq!(status, 431);
        assert!(
            error.error.contains("65536 bytes") && error.error.contains("100 headers"),
            "{}",
            error.error
        );
    }
    // Just within the limits: served, on the connection hyper keeps.
    let fits = format!("X-Big: {}\r\n", "b".repeat(60 * 1024));
    let target = format!("/api/logs?q={}", "a".repeat(60 * 1024));
    let answer = answer_to(&daemon, get(&target, &fits)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
}
