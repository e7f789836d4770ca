//! A full disk (issue 14) must not wedge the embedded daemon: fill a small
//! disk while clients stream ingests, free it, and find every acknowledged
//! record exactly once, nothing of a refused request, and ingest resumed
//! without a restart; health and readiness say `disk_full` (507) meanwhile.
//!
//! The disk is a tmpfs the test mounts, so it runs as root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logstream_testkit::{TestDaemon, fetch_all, ingest, metric};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// DuckDB folds its WAL into the database file once it grows past this:
/// the daemons here are started with it (`--checkpoint-threshold`, DuckDB's
/// own default), small enough for a small disk.
const CHECKPOINT_THRESHOLD: u64 = 16 << 20;

/// The daemon's flags for that threshold.
const THRESHOLD_FLAGS: [&str; 2] = ["--checkpoint-threshold", "16MiB"];

/// A tmpfs of `size_mib` mounted on a new temporary directory, unmounted
/// when dropped (also when the test fails).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_mib: u64) -> SmallDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}M"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "this test mounts a tmpfs to fill, so it must run as root (uid {}): mount said {}",
            uid(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    fn free_bytes(&self) -> u64 {
        let stats = rustix::fs::statvfs(self.path()).expect("statvfs");
        stats.f_bavail * stats.f_frsize
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(self.path().join("logs.duckdb.wal")).map_or(0, |m| m.len())
    }

    /// Takes all free space but `leave` bytes (less if the disk fills
    /// meanwhile: then as much as there is).
    fn fill_leaving(&self, leave: u64) {
        let size = self.free_bytes().saturating_sub(leave).max(4096);
        let status = Command::new("fallocate")
            .args(["-l", &size.to_string()])
            .arg(self.filler())
            .status()
            .expect("run fallocate");
        assert!(status.success(), "fallocate -l {size} failed");
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily, should something still hold a file open on it.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn uid() -> String {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    /// Ids of records answered 202.
    acked: Mutex<Vec<String>>,
    /// Ids of the batch each client was still sending, refused, at the end.
    refused_at_end: Mutex<Vec<String>>,
    /// Requests answered 507.
    refused: AtomicUsize,
    stop: AtomicBool,
}

/// Clients posting batches of 1 to 40 records with ids of their own. A
/// batch answered 507 is sent again as it is, without an idempotency key:
/// if a 507 were a lie, its records would be stored twice.
fn spawn_clients(url: &str, clients: usize, seen: &Arc<Seen>) -> Vec<JoinHandle<()>> {
    (0..clients)
        .map(|client_no| {
            let seen = Arc::clone(seen);
            let url = format!("{url}/api/ingest");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut seq = 0;
                let mut refused_ids = Vec::new();
                while !seen.stop.load(Ordering::Relaxed) {
                    let size = 1 + (seq * 7 + client_no) % 40;
                    let ids: Vec<String> = (0..size).map(|i| format!("c{client_no}-b{seq}-{i}")).collect();
                    let batch: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({"id": id, "service": "disk", "message": format!("{id} {}", "x".repeat(150))}))
                        .collect();
                    let response = client.post(&url).json(&batch).send().await.expect("POST /api/ingest");
                    match response.status().as_u16() {
                        202 => {
                            seen.acked.lock().unwrap().extend(ids);
                            refused_ids.clear();
                            seq += 1;
                        }
                        507 => {
                            let body: Value = response.json().await.expect("a JSON error body");
                            let error = body["error"].as_str().unwrap_or_default();
                            assert!(error.contains("nothing of this request was stored"), "507 body: {body}");
                            seen.refused.fetch_add(1, Ordering::Relaxed);
                            refused_ids = ids;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        429 => tokio::time::sleep(Duration::from_millis(10)).await,
                        status => panic!("unexpected status {status}: {}", response.text().await.unwrap_or_default()),
                    }
                }
                seen.refused_at_end.lock().unwrap().extend(refused_ids);
            })
        })
        .collect()
}

/// Waits up to `within` for `done`, checking every 50 ms.
async fn wait_for(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_of(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Checks that the health check and readiness report a full disk.
async fn assert_reports_disk_full(client: &reqwest::Client, daemon: &TestDaemon) {
    let (status, body) = status_of(client, &daemon.at("/api/health")).await;
    assert_eq!(status, 507, "health while the disk is full: {body}");
    let health: Value = serde_json::from_str(&body).expect("a JSON health body");
    assert_eq!(health["status"], "disk_full", "{body}");
    let (status, body) = status_of(client, &daemon.at("/ready")).await;
    assert_eq!(status, 507, "readiness while the disk is full: {body}");
}

/// Whether the health check says `ok`.
async fn healthy(client: &reqwest::Client, daemon: &TestDaemon) -> bool {
    status_of(client, &daemon.at("/api/health")).await.0 == 200
}

/// Each id the daemon holds, with how many times it holds it.
async fn stored_ids(client: &reqwest::Client, daemon: &TestDaemon) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for record in fetch_all(client, daemon, "service:disk").await {
        *counts.entry(record.id).or_default() += 1;
    }
    counts
}

/// Every acknowledged id is stored (`log`: the daemon's, shown if not).
fn assert_all_stored(acked: &[String], stored: &HashMap<String, usize>, log: &str) {
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records missing, e.g. {:?}; the daemon's log:\n{log}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_under_load_loses_nothing_and_ingest_resumes_once_freed() {
    let disk = SmallDisk::mount(64);
    let daemon = TestDaemon::start_in(disk.path(), &THRESHOLD_FLAGS);
    let client = reqwest::Client::new();
    let seen = Arc::new(Seen::default());
    let clients = spawn_clients(&daemon.url, 6, &seen);

    // Fill the disk as the WAL nears DuckDB's checkpoint threshold, leaving
    // room for the WAL to reach it but not for the checkpoint that follows:
    // DuckDB then reports a durable commit with a fatal error and
    // invalidates the database. Then the WAL itself finds no room.
    wait_for(
        "the WAL growing to 6 MiB",
        Duration::from_secs(120),
        async || disk.wal_bytes() >= 6 << 20,
    )
    .await;
    disk.fill_leaving(CHECKPOINT_THRESHOLD.saturating_sub(disk.wal_bytes()) + (256 << 10));
    wait_for(
        "an ingest answered 507",
        Duration::from_secs(60),
        async || seen.refused.load(Ordering::Relaxed) > 0,
    )
    .await;

    assert_reports_disk_full(&client, &daemon).await;
    let (status, body) = status_of(&client, &daemon.at("/api/logs?q=service:disk&limit=5")).await;
    assert_eq!(
        status,
        200,
        "a query while the disk is full: {body}; the daemon's log:\n{}",
        daemon.log()
    );
    assert!(metric(&daemon, "logstream_disk_full_records_total").await > 0.0);
    assert!(
        metric(&daemon, "logstream_store_reopens_total").await >= 1.0,
        "the checkpoint never failed, so the test did not exercise that case; the daemon's log:\n{}",
        daemon.log()
    );

    disk.free();
    let acked_when_freed = seen.acked.lock().unwrap().len();
    wait_for("ingest resuming", Duration::from_secs(30), async || {
        seen.acked.lock().unwrap().len() > acked_when_freed + 2000
    })
    .await;
    wait_for("health saying ok", Duration::from_secs(10), async || {
        healthy(&client, &daemon).await
    })
    .await;
    let (status, body) = status_of(&client, &daemon.at("/ready")).await;
    assert_eq!(status, 200, "readiness once freed: {body}");

    seen.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let stored = stored_ids(&client, &daemon).await;
    let duplicates: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "stored twice: {duplicates:?}");
    let acked = seen.acked.lock().unwrap();
    assert_all_stored(&acked, &stored, &daemon.log());
    let refused = seen.refused_at_end.lock().unwrap();
    let kept: Vec<_> = refused
        .iter()
        .filter(|id| stored.contains_key(*id))
        .collect();
    assert!(kept.is_empty(), "refused with 507 but stored: {kept:?}");
    assert_eq!(
        stored.len(),
        acked.len(),
        "stored records nobody acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_on_a_full_disk_the_daemon_reports_it_and_recovers_once_freed() {
    let disk = SmallDisk::mount(32);
    let client = reqwest::Client::new();
    let record = |id: &str| json!({"id": id, "service": "disk", "message": "m"});
    let mut daemon = TestDaemon::start_in(disk.path(), &THRESHOLD_FLAGS);
    assert_eq!(ingest(&client, &daemon, &record("before")).await, 202);
    assert!(daemon.terminate().success());

    disk.fill_leaving(0);
    let daemon = TestDaemon::start_in(disk.path(), &THRESHOLD_FLAGS);
    assert_reports_disk_full(&client, &daemon).await;
    assert_eq!(
        stored_ids(&client, &daemon).await.len(),
        1,
        "a query on a full disk"
    );

    disk.free();
    wait_for("health saying ok", Duration::from_secs(10), async || {
        healthy(&client, &daemon).await
    })
    .await;
    assert_eq!(ingest(&client, &daemon, &record("after")).await, 202);
    assert_eq!(stored_ids(&client, &daemon).await.len(), 2);
}

/// Answers go on while DuckDB cannot store (the journal's segment has its
/// room reserved); a stop then leaves what DuckDB did not take in the
/// journal, and the next start, on a freed disk, stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_on_a_full_disk_the_daemon_leaves_the_journal_to_the_next_start() {
    let disk = SmallDisk::mount(32);
    let client = reqwest::Client::new();
    let mut daemon = TestDaemon::start_in(disk.path(), &THRESHOLD_FLAGS);
    let mut acked = Vec::new();
    for i in 0..40 {
        if i == 1 {
            disk.fill_leaving(0);
        }
        let id = format!("full-{i}");
        let record = json!({"id": id, "service": "disk", "message": "m"});
        match ingest(&client, &daemon, &record).await.as_u16() {
            202 => acked.push(id),
            507 => {}
            status => panic!("unexpected status {status}"),
        }
    }
    assert!(
        acked.len() > 1,
        "nothing was answered 202 once the disk was full: {acked:?}"
    );
    let unstored = metric(&daemon, "logstream_ingest_journal_unstored_records").await;
    assert!(
        unstored >= 1.0,
        "records only the journal holds: {unstored}"
    );

    let stopped = tokio::task::spawn_blocking(move || {
        let status = daemon.terminate();
        (status, daemon.log())
    });
    let (status, log) = tokio::time::timeout(Duration::from_secs(30), stopped)
        .await
        .expect("the daemon stops within 30 s on a full disk")
        .unwrap();
    assert!(
        status.code().is_some(),
        "stopped by a signal: {status:?}\n{log}"
    );

    disk.free();
    let daemon = TestDaemon::start_in(disk.path(), &THRESHOLD_FLAGS);
    let stored = stored_ids(&client, &daemon).await;
    assert_all_stored(&acked, &stored, &log);
    assert!(stored.values().all(|n| *n == 1), "stored twice: {stored:?}");
    assert!(
        daemon
            .log()
            .contains("storing what the ingest journal holds beyond the store"),
        "DuckDB stored everything before the stop, so the test did not exercise the journal; the stopping daemon's log:\n{log}"
    );
}
