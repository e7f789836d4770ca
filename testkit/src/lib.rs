//! Test support: starts the real `logstreamd` binary on a free port and a
//! temporary data directory, and finds the workspace's other binaries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tempfile::TempDir;

pub mod services;

/// A binary of this workspace, built next to the running test or benchmark.
pub fn binary(name: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps, binaries one level up.
    let exe = std::env::current_exe().expect("executable path");
    let mut dir = exe.parent().expect("target directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target directory");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// A running daemon, killed when dropped.
#[derive(Debug)]
pub struct TestDaemon {
    child: Child,
    /// Base URL, like `http://127.0.0.1:41234`.
    pub url: String,
    pub data_dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _temp: Option<Arc<TempDir>>,
}

impl TestDaemon {
    /// A daemon on a new temporary data directory.
    pub fn start() -> TestDaemon {
        Self::start_with(&[])
    }

    /// A daemon on a new temporary data directory, with extra flags.
    pub fn start_with(args: &[&str]) -> TestDaemon {
        Self::start_with_env(args, &[])
    }

    /// A daemon on a new temporary data directory, with extra flags and
    /// environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestDaemon {
        let temp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut daemon = Self::spawn(temp.path(), args, env);
        daemon._temp = Some(temp);
        daemon
    }

    /// A daemon on `data_dir`, which outlives it (for restart tests). It
    /// listens on a free port unless `args` has a `--listen`.
    pub fn start_in(data_dir: &Path, args: &[&str]) -> TestDaemon {
        Self::spawn(data_dir, args, &[])
    }

    fn spawn(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TestDaemon {
        let mut command = Command::new(binary("logstreamd"));
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = command
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("LOGSTREAM_LOG", "info")
            // The developer's own settings must not leak into tests.
            .env_remove("LOGSTREAM_STORE")
            .env_remove("LOGSTREAM_TOKENS")
            .env_remove("LOGSTREAM_TOKENS_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start logstreamd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(url);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "logstreamd did not start; its log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        TestDaemon {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
            log,
            _temp: None,
        }
    }

    /// `url` joined with a path such as `/api/logs`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The `host:port` the daemon listens on.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The daemon's process id (to inspect or limit the process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the daemon to drain and exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("wait for logstreamd")
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path?params`, which must answer 200 with a JSON body of type `T`.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    daemon: &TestDaemon,
    path: &str,
    params: &[(&str, &str)],
) -> T {
    let response = client
        .get(daemon.at(path))
        .query(params)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "GET {path} {params:?}"
    );
    response.json().await.expect("a JSON body")
}

/// Every record the daemon holds for a query, following cursors page by page.
pub async fn fetch_all(
    client: &reqwest::Client,
    daemon: &TestDaemon,
    q: &str,
) -> Vec<logstream_shared::LogRecord> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("q", q), ("limit", "10000")];
        if let Some(c) = &cursor {
            params.push(("cursor", c));
        }
        let page: logstream_shared::api::LogsPage =
            get_json(client, daemon, "/api/logs", &params).await;
        records.extend(page.data);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return records,
        }
    }
}

/// The real `lsctl` talking to `url`, with nothing of the developer's
/// environment (token, config file, service, spool, checkpoints): its state
/// lives in `state`. Plain output: no colour, times in UTC.
pub fn lsctl_in(url: &str, state: &Path) -> Command {
    let mut command = Command::new(binary("lsctl"));
    command
        .env("LOGSTREAM_URL", url)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env_remove("LOGSTREAM_TOKEN")
        .env_remove("LOGSTREAM_SERVICE")
        .env_remove("LSCTL_SPOOL_DIR")
        .env("LSCTL_CONFIG", "/dev/null")
        .env("XDG_STATE_HOME", state);
    command
}

/// `lsctl_in` for `daemon`, with a state directory per test process.
pub fn lsctl(daemon: &TestDaemon) -> Command {
    let state = std::env::temp_dir().join(format!("lsctl-test-state-{}", std::process::id()));
    lsctl_in(&daemon.url, &state)
}

/// A metric's value from the daemon's `GET /metrics` (Prometheus text); every
/// counter is there from the start, so a missing one fails the caller.
pub async fn metric(daemon: &TestDaemon, name: &str) -> f64 {
    let text = reqwest::get(daemon.at("/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// The status the daemon answers to `body` posted as JSON to `/api/ingest`.
pub async fn ingest(
    client: &reqwest::Client,
    daemon: &TestDaemon,
    body: &impl serde::Serialize,
) -> reqwest::StatusCode {
    client
        .post(daemon.at("/api/ingest"))
        .json(body)
        .send()
        .await
        .expect("POST /api/ingest")
        .status()
}
