//! The real Kafka-compatible broker and ClickHouse server that
//! `scripts/services start` runs for the full suite (`scripts/test`).
//!
//! Tests that need them are `#[ignore]`d so that plain `cargo test` runs
//! everything that needs no service; `scripts/test` runs them all with
//! `--include-ignored`, and these functions fail loudly when the services'
//! settings are missing rather than letting a test pass without them.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the real services; run scripts/test (it starts them)")
    })
}

/// The broker's `HOST:PORT`.
pub fn kafka() -> String {
    setting("LOGSTREAM_TEST_KAFKA")
}

/// The ClickHouse server's HTTP base URL with credentials, `http://USER:PASS@HOST:PORT`.
pub fn clickhouse() -> String {
    setting("LOGSTREAM_TEST_CLICKHOUSE")
}

/// A store URL for a database of its own on the test ClickHouse server.
pub fn clickhouse_store_url(database: &str) -> String {
    let base = clickhouse();
    let rest = base.strip_prefix("http://").unwrap_or(&base);
    format!("clickhouse://{rest}/{database}")
}

/// A name no other test of any run uses (databases, topics, groups).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// Runs SQL on the test ClickHouse server over HTTP; returns the response text.
pub async fn clickhouse_sql(sql: &str) -> String {
    let response = reqwest::Client::new()
        .post(clickhouse())
        .body(sql.to_string())
        .send()
        .await
        .expect("ClickHouse is reachable");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "ClickHouse said {status}: {text}\nfor: {sql}"
    );
    text
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for tests).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not listen on port {port} within 60 s; its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn stop_child(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A ClickHouse server of a test's own, which the test may stop and start
/// again (on the same data and port) to play an outage.
#[derive(Debug)]
pub struct PrivateClickHouse {
    dir: TempDir,
    http_port: u16,
    tcp_port: u16,
    child: Option<Child>,
}

impl PrivateClickHouse {
    pub fn start() -> PrivateClickHouse {
        let dir = tempfile::tempdir().expect("temp dir");
        let (http_port, tcp_port) = (free_port(), free_port());
        let config = Command::new(setting("LOGSTREAM_CLICKHOUSE_CONFIG"))
            .arg(dir.path())
            .arg(http_port.to_string())
            .arg(tcp_port.to_string())
            .output()
            .expect("run the ClickHouse config script");
        assert!(config.status.success(), "clickhouse-config failed");
        std::fs::write(dir.path().join("config.xml"), config.stdout).expect("write config");
        let mut server = PrivateClickHouse {
            dir,
            http_port,
            tcp_port,
            child: None,
        };
        server.resume();
        server
    }

    /// `clickhouse://default:@127.0.0.1:PORT/DATABASE`
    pub fn store_url(&self, database: &str) -> String {
        format!(
            "clickhouse://default:@127.0.0.1:{}/{database}",
            self.http_port
        )
    }

    /// SIGKILL: the server is gone at once, as in a crash.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Starts the server again on the same data directory and ports.
    pub fn resume(&mut self) {
        let log = self.dir.path().join("server.log");
        let child = Command::new(setting("LOGSTREAM_CLICKHOUSE_SERVER"))
            .arg(format!(
                "--config-file={}",
                self.dir.path().join("config.xml").display()
            ))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start clickhouse-server");
        self.child = Some(child);
        wait_for_port(self.http_port, "clickhouse-server", &log);
        wait_for_port(self.tcp_port, "clickhouse-server", &log);
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Kafka-compatible broker (tansu, in-memory) of a test's own, which the
/// test may stop and start again on the same port. Its data does not
/// survive a stop.
#[derive(Debug)]
pub struct PrivateBroker {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateBroker {
    pub fn start() -> PrivateBroker {
        let mut broker = PrivateBroker {
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            child: None,
        };
        broker.resume();
        broker
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    pub fn resume(&mut self) {
        let log = self.dir.path().join("tansu.log");
        // Right after a stop the port may still be held for a moment.
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(setting("LOGSTREAM_TANSU"))
            .args(["broker", "--listener-url", &listener])
            .args(["--advertised-listener-url", &listener])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        wait_for_port(self.port, "tansu", &log);
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
