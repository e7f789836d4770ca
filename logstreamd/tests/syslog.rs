//! The syslog listeners, end to end: real senders (util-linux `logger`,
//! Python's `logging.handlers.SysLogHandler`, rsyslog forwarding) talk to a
//! real `logstreamd --syslog-listen`, and every message must be stored
//! exactly once with the fields its format carries.
//!
//! These need tools that are not Rust, so they are ignored by plain `cargo
//! test`; `scripts/test` installs the tools and runs them. A missing tool
//! fails the test: it is never skipped.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logstream_shared::record::{MAX_MESSAGE_LEN, TRUNCATED_FIELDS};
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, fetch_all, metric};

/// The path of a tool that must be installed; fails the test if it is not.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed; these tests need it (scripts/test installs \
                 bsdutils for logger and rsyslog: apt-get install bsdutils rsyslog)"
            )
        })
}

/// A port that was free a moment ago, for TCP and UDP alike, and that no
/// other test of this process was given (the kernel may hand a just-freed
/// port to the next bind).
fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() && GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// A daemon that receives syslog on TCP and UDP port `.1`, ready to accept.
fn daemon_with_syslog() -> (TestDaemon, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let daemon = TestDaemon::start_with(&["--syslog-listen", &addr]);
    // This daemon's listeners, not another process's on the same port.
    for transport in ["tcp", "udp"] {
        assert!(
            daemon.log().contains(&format!("on {transport}://{addr}")),
            "no {transport} syslog listener on {addr}; the daemon's log:\n{}",
            daemon.log()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the syslog port {addr} never accepted; the daemon's log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (daemon, port)
}

/// A marker unique to this test run, to find its records by.
fn marker(name: &str) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// The records whose message contains `text`, once `expected` of them are
/// stored; then waits a little longer, so that a duplicate would show.
async fn arrived(daemon: &TestDaemon, text: &str, expected: usize) -> Vec<LogRecord> {
    let client = reqwest::Client::new();
    let q = format!("\"{text}\"");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records = fetch_all(&client, daemon, &q).await;
        if records.len() >= expected {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return fetch_all(&client, daemon, &q).await;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} records with \"{text}\" arrived; the daemon's log:\n{}",
            records.len(),
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Exactly one record with `text`.
async fn the_one(daemon: &TestDaemon, text: &str) -> LogRecord {
    let mut records = arrived(daemon, text, 1).await;
    assert_eq!(
        records.len(),
        1,
        "\"{text}\" must be stored once: {records:#?}"
    );
    records.remove(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the hostname")
        .trim()
        .to_string()
}

fn attribute<'a>(record: &'a LogRecord, name: &str) -> Option<&'a str> {
    record.attributes.get(name).map(String::as_str)
}

/// A timestamp from the sender's clock: close to now.
fn assert_recent(record: &LogRecord) {
    let age = Utc::now() - record.timestamp;
    assert!(
        age < chrono::Duration::minutes(2) && age > chrono::Duration::minutes(-2),
        "{:?} is not about now",
        record.timestamp
    );
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a sender");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `logger` sending `message` to `port` with these transport and format flags.
fn logger(port: u16, flags: &[&str], message: &str) {
    run(Command::new(tool("logger"))
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(flags)
        .args(["--tag", "app", "--id=123", "--msgid", "ID"])
        .args(["--sd-id", "x@32473", "--sd-param", "a=\"b\""])
        .args(["-p", "user.err", message]));
}

#[tokio::test]
#[ignore = "needs logger and rsyslogd (scripts/test installs them)"]
async fn logger_over_every_transport_and_format() {
    let (daemon, port) = daemon_with_syslog();
    let host = hostname();
    let short_host = host.split('.').next().unwrap().to_string();
    let cases: [(&str, &[&str]); 6] = [
        ("udp-5424", &["--udp", "--rfc5424"]),
        ("udp-3164", &["--udp", "--rfc3164"]),
        ("tcp-5424", &["--tcp", "--rfc5424"]),
        ("tcp-5424-octets", &["--tcp", "--rfc5424", "--octet-count"]),
        ("tcp-3164", &["--tcp", "--rfc3164"]),
        ("tcp-3164-octets", &["--tcp", "--rfc3164", "--octet-count"]),
    ];
    let before = Utc::now();
    let mut markers = Vec::new();
    for (name, flags) in cases {
        let text = marker(&format!("logger-{name}"));
        logger(port, flags, &format!("message {text}"));
        markers.push((name, flags, text));
    }
    for (name, flags, text) in &markers {
        let r = the_one(&daemon, text).await;
        assert_eq!(r.service, "app", "{name}");
        assert_eq!(r.level, Level::Error, "{name}");
        assert_eq!(r.message, format!("message {text}"), "{name}");
        assert_eq!(attribute(&r, "pid"), Some("123"), "{name}");
        assert_eq!(attribute(&r, "facility"), Some("user"), "{name}");
        assert_recent(&r);
        if flags.contains(&"--rfc5424") {
            assert_eq!(r.host.as_deref(), Some(host.as_str()), "{name}");
            assert_eq!(attribute(&r, "msgid"), Some("ID"), "{name}");
            assert_eq!(attribute(&r, "a"), Some("b"), "{name}");
            // logger's clock, to the microsecond, not the daemon's.
            assert_eq!(r.timestamp.timestamp_subsec_nanos() % 1000, 0, "{name}");
        } else {
            assert_eq!(r.host.as_deref(), Some(short_host.as_str()), "{name}");
            assert_eq!(attribute(&r, "msgid"), None, "{name}");
            // RFC 3164 times are whole seconds.
            assert_eq!(r.timestamp.timestamp_subsec_nanos(), 0, "{name}");
            assert!(
                r.timestamp >= before - chrono::Duration::seconds(1),
                "{name}"
            );
        }
    }
    assert!(metric(&daemon, "logstream_syslog_received_records_total").await >= 6.0);
    assert!(metric(&daemon, "logstream_ingested_records_total").await >= 6.0);
    assert_eq!(
        metric(&daemon, "logstream_syslog_udp_dropped_records_total").await,
        0.0
    );
}

#[tokio::test]
#[ignore = "needs logger and rsyslogd (scripts/test installs them)"]
async fn python_sysloghandler_over_udp_and_tcp() {
    let (daemon, port) = daemon_with_syslog();
    let script = r#"
import logging, logging.handlers, socket, sys
port, kind, text = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socktype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
handler = logging.handlers.SysLogHandler(
    address=("127.0.0.1", port),
    facility=logging.handlers.SysLogHandler.LOG_LOCAL3,
    socktype=socktype,
)
handler.ident = "pyapp: "
log = logging.getLogger("test")
log.addHandler(handler)
log.setLevel(logging.DEBUG)
log.warning("first %s", text)
log.error("second %s", text)
log.debug("third %s", text)
handler.close()
"#;
    for kind in ["udp", "tcp"] {
        let text = marker(&format!("python-{kind}"));
        run(Command::new(tool("python3")).args(["-c", script, &port.to_string(), kind, &text]));
        let mut records = arrived(&daemon, &text, 3).await;
        assert_eq!(records.len(), 3, "{kind}: {records:#?}");
        records.sort_by(|a, b| a.message.cmp(&b.message));
        let levels: Vec<(&str, Level)> = records
            .iter()
            .map(|r| (r.message.split(' ').next().unwrap(), r.level))
            .collect();
        assert_eq!(
            levels,
            [
                ("first", Level::Warn),
                ("second", Level::Error),
                ("third", Level::Debug)
            ],
            "{kind}"
        );
        for r in &records {
            // The NUL that ends each message is not part of it.
            assert!(r.message.ends_with(&text), "{kind}: {:?}", r.message);
            assert_eq!(r.service, "pyapp", "{kind}");
            assert_eq!(attribute(r, "facility"), Some("local3"), "{kind}");
            // No host in the message: the sender's address.
            assert_eq!(r.host.as_deref(), Some("127.0.0.1"), "{kind}");
            assert_recent(r);
        }
    }
}

/// An rsyslogd of this test's own, with its config, work directory and pid
/// file in a temporary directory; stopped when dropped.
struct Rsyslog {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rsyslog {
    /// Receives on UDP `port` and forwards to `to` over TCP, octet-counted, as RFC 5424.
    fn forwarding(port: u16, to: u16) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("rsyslog.conf");
        std::fs::write(
            &config,
            format!(
                r#"global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{to}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}}
"#,
                work = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(tool("rsyslogd"))
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rsyslogd");
        Rsyslog { child, _dir: dir }
    }
}

#[tokio::test]
#[ignore = "needs logger and rsyslogd (scripts/test installs them)"]
async fn rsyslog_forwarding_octet_counted_rfc5424() {
    let (daemon, port) = daemon_with_syslog();
    let relay_port = free_port();
    let _rsyslog = Rsyslog::forwarding(relay_port, port);
    // rsyslogd takes a moment to open its input: probe until one arrives.
    let probe = marker("rsyslog-probe");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        logger(relay_port, &["--udp", "--rfc3164"], &probe);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !fetch_all(&client, &daemon, &format!("\"{probe}\""))
            .await
            .is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing arrived through rsyslogd"
        );
    }

    let host = hostname();
    let short_host = host.split('.').next().unwrap().to_string();
    let from_5424 = marker("rsyslog-5424");
    logger(
        relay_port,
        &["--udp", "--rfc5424"],
        &format!("relayed {from_5424}"),
    );
    let r = the_one(&daemon, &from_5424).await;
    assert_eq!(
        (
            r.service.as_str(),
            r.level,
            r.host.as_deref(),
            r.message.as_str()
        ),
        (
            "app",
            Level::Error,
            Some(host.as_str()),
            format!("relayed {from_5424}").as_str()
        )
    );
    assert_eq!(attribute(&r, "pid"), Some("123"));
    assert_eq!(attribute(&r, "msgid"), Some("ID"));
    assert_eq!(attribute(&r, "a"), Some("b"));
    assert_eq!(attribute(&r, "facility"), Some("user"));
    assert_recent(&r);
    assert_eq!(r.timestamp.timestamp_subsec_nanos() % 1000, 0);

    let from_3164 = marker("rsyslog-3164");
    run(Command::new(tool("logger"))
        .args(["--server", "127.0.0.1", "--port", &relay_port.to_string()])
        .args(["--udp", "--rfc3164", "--tag", "relayed", "--id=77"])
        .args(["-p", "local5.warning", &format!("old style {from_3164}")]));
    let r = the_one(&daemon, &from_3164).await;
    assert_eq!(
        (
            r.service.as_str(),
            r.level,
            r.host.as_deref(),
            r.message.as_str()
        ),
        (
            "relayed",
            Level::Warn,
            Some(short_host.as_str()),
            format!("old style {from_3164}").as_str()
        )
    );
    assert_eq!(attribute(&r, "pid"), Some("77"));
    assert_eq!(attribute(&r, "facility"), Some("local5"));
    assert_recent(&r);
}

#[tokio::test]
#[ignore = "needs logger and rsyslogd (scripts/test installs them)"]
async fn garbage_is_stored_plain_or_cut_and_the_daemon_stays_healthy() {
    let (daemon, port) = daemon_with_syslog();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // Random bytes, over both transports.
    let mut noise = vec![0u8; 256 * 1024];
    rand::fill(&mut noise[..]);
    TcpStream::connect(addr).unwrap().write_all(&noise).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in noise.chunks(1400).take(50) {
        udp.send_to(datagram, addr).unwrap();
    }

    // Not syslog at all, and not UTF-8: a plain record, with replacement characters.
    let plain = marker("plain");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(format!("just text {plain}\n").as_bytes())
        .unwrap();
    tcp.write_all(b"<13>app: bytes \xff\xfe ").unwrap();
    let utf8 = marker("not-utf8");
    tcp.write_all(format!("{utf8}\n").as_bytes()).unwrap();
    // A count shorter than its message: the rest is a frame of its own.
    let short_count = marker("short-count");
    tcp.write_all(format!("6 <13>app: {short_count}\n").as_bytes())
        .unwrap();
    // An over-long frame, octet-counted and LF-delimited.
    let long_counted = marker("long-counted");
    let body = format!("<13>app: {long_counted} {}", "x".repeat(300 * 1024));
    tcp.write_all(format!("{} {body}", body.len()).as_bytes())
        .unwrap();
    let long_line = marker("long-line");
    tcp.write_all(format!("<13>app: {long_line} {}\n", "y".repeat(300 * 1024)).as_bytes())
        .unwrap();
    // A count larger than what follows before the connection closes.
    let truncated = marker("truncated");
    tcp.write_all(format!("99999 <13>app: {truncated}").as_bytes())
        .unwrap();
    drop(tcp);
    let datagram = marker("udp-plain");
    udp.send_to(format!("udp text {datagram}\0").as_bytes(), addr)
        .unwrap();

    let r = the_one(&daemon, &plain).await;
    assert_eq!(
        (r.service.as_str(), r.level, r.message.as_str()),
        (
            "unknown",
            Level::Info,
            format!("just text {plain}").as_str()
        )
    );
    let r = the_one(&daemon, &utf8).await;
    assert_eq!(r.message, format!("bytes \u{fffd}\u{fffd} {utf8}"));
    assert_eq!(r.service, "app");
    let r = the_one(&daemon, &short_count).await;
    assert_eq!(
        r.service, "unknown",
        "the frame after the count is plain text"
    );
    for text in [&long_counted, &long_line] {
        let r = the_one(&daemon, text).await;
        assert_eq!(r.service, "app");
        assert!(r.message.len() <= MAX_MESSAGE_LEN, "{text}");
        assert!(
            attribute(&r, TRUNCATED_FIELDS).is_some_and(|cut| cut.contains("message")),
            "{text}: {:?}",
            r.attributes
        );
    }
    let r = the_one(&daemon, &truncated).await;
    assert_eq!(attribute(&r, TRUNCATED_FIELDS), Some("message"));
    let r = the_one(&daemon, &datagram).await;
    assert_eq!(r.message, format!("udp text {datagram}"));

    // Still healthy, and still receiving.
    let health = reqwest::get(daemon.at("/api/health")).await.unwrap();
    assert!(health.status().is_success());
    let after = marker("after-garbage");
    logger(port, &["--tcp", "--rfc5424", "--octet-count"], &after);
    assert_eq!(the_one(&daemon, &after).await.service, "app");
}

#[test]
fn a_worker_refuses_syslog_flags() {
    let output = Command::new(logstream_testkit::binary("logstreamd"))
        .args(["--role", "worker", "--syslog-udp", "127.0.0.1:0"])
        .args([
            "--queue",
            "kafka://127.0.0.1:1/x",
            "--store",
            "clickhouse://127.0.0.1:1/x",
        ])
        .env_remove("LOGSTREAM_SYSLOG_LISTEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--role worker has no ingest pipeline"),
        "{stderr}"
    );
}

/// A daemon with syslog listeners stops cleanly at a signal, with every
/// record it had received stored.
#[tokio::test]
async fn a_stop_signal_stores_what_was_received() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut daemon = TestDaemon::start_in(data.path(), &["--syslog-tcp", &addr]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tcp = loop {
        match TcpStream::connect(&addr) {
            Ok(tcp) => break tcp,
            Err(e) => assert!(Instant::now() < deadline, "{addr}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = marker("at-stop");
    for i in 0..500 {
        tcp.write_all(format!("<14>1 - - app - - - {text} {i}\n").as_bytes())
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(daemon.terminate().success(), "{}", daemon.log());
    let daemon = TestDaemon::start_in(data.path(), &[]);
    let records = arrived(&daemon, &text, 500).await;
    assert_eq!(records.len(), 500);
    let newest: DateTime<Utc> = records.iter().map(|r| r.timestamp).max().unwrap();
    assert!(newest <= Utc::now());
}
