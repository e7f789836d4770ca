//! `--seed DIR`: single-record POSTs to the original Node/Fastify/KafkaJS
//! LogStream (a checkout of github.com/Prateet-Github/logstream in DIR,
//! which this repository never holds) beside the embedded daemon, the same
//! bodies from the same client, in one run. The original answers 202 once
//! Kafka acknowledged the record, so it runs on the broker of
//! scripts/services; it also needs a ClickHouse with DateTime64 to start
//! (`scripts/chdb-http`, a current ClickHouse engine). Run as it deploys
//! (its docker-compose sets no NODE_ENV: development logging, which the
//! bench sends to a file).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use logstream_testkit::{TestDaemon, services};

use crate::{post_all, print_latencies, rate};

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until `url` answers 2xx, or fails after `limit`.
async fn until_up(url: &str, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(r) = reqwest::get(url).await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("{url} did not answer within {limit:?}")
}

/// The original's API in a copy of the checkout's `api/`, with its locked
/// dependencies installed from npm.
fn install(checkout: &Path, work: &Path) -> anyhow::Result<PathBuf> {
    let source = checkout.join("api");
    anyhow::ensure!(
        source.join("server.ts").is_file(),
        "{} is not a checkout of github.com/Prateet-Github/logstream (no api/server.ts)",
        checkout.display()
    );
    let api = work.join("api");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(&api)
        .status()?;
    anyhow::ensure!(copied.success(), "copying {}", source.display());
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&api)
        .status()?;
    anyhow::ensure!(installed.success(), "npm ci in {}", api.display());
    Ok(api)
}

/// Starts the original's API on `port`, on the test broker, logging to a
/// file in `work`.
fn start_seed(api: &Path, work: &Path, port: u16, clickhouse: u16) -> anyhow::Result<Running> {
    let log = std::fs::File::create(work.join("seed-api.log"))?;
    // Node loading tsx itself, not the tsx command: that would run the
    // server as a grandchild that killing it leaves running.
    let child = Command::new("node")
        .args(["--import", "tsx", "server.ts"])
        .current_dir(api)
        .env("PORT", port.to_string())
        .env("KAFKA_BROKER", services::kafka())
        .env("CLICKHOUSE_HOST", format!("http://127.0.0.1:{clickhouse}"))
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok(Running(child))
}

/// CPU seconds a process has used so far (user and system, all threads).
fn cpu_seconds(pid: u32) -> f64 {
    // Linux counts them in USER_HZ ticks, 100 a second.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's closing parenthesis, field 3 (state) comes first:
    // utime (14) and stime (15) are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(u, s)| (u + s) / TICKS)
}

/// The broker of scripts/services (`tansu`), if it runs here.
fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let program = cmdline.split(|&b| b == 0).next()?;
            program.ends_with(b"tansu").then_some(pid)
        })
}

/// Server CPU seconds over `work`: the process's and the broker's.
async fn with_cpu<T>(pid: u32, work: impl std::future::Future<Output = T>) -> (T, f64, f64) {
    let broker = broker_pid();
    let broker_cpu = || broker.map_or(0.0, cpu_seconds);
    let (own, brokers) = (cpu_seconds(pid), broker_cpu());
    let done = work.await;
    (done, cpu_seconds(pid) - own, broker_cpu() - brokers)
}

/// Bodies both implementations accept (the original takes these four
/// levels and no other fields).
fn bodies(n: usize) -> Vec<(Bytes, &'static str)> {
    (0..n)
        .map(|i| {
            let level = ["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"][i % 6];
            let body = serde_json::json!({
                "service": format!("service-{:02}", i % 10),
                "level": level,
                "message": format!("GET /api/users/{} answered 200 in {} ms", i % 977, i % 50),
            });
            (Bytes::from(body.to_string()), "application/json")
        })
        .collect()
}

pub(crate) async fn run(checkout: &Path, requests: usize, clients: usize) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let api = install(checkout, work.path())?;
    let clickhouse_port = free_port()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/chdb-http");
    let _clickhouse = Running(
        Command::new(script)
            .arg(clickhouse_port.to_string())
            .arg(work.path().join("chdb"))
            .stdout(Stdio::null())
            .spawn()?,
    );
    until_up(
        &format!("http://127.0.0.1:{clickhouse_port}/ping"),
        Duration::from_secs(60),
    )
    .await?;
    let port = free_port()?;
    let seed = start_seed(&api, work.path(), port, clickhouse_port)?;
    let seed_url = format!("http://127.0.0.1:{port}");
    until_up(&format!("{seed_url}/api/health"), Duration::from_secs(60)).await?;

    let seed_ingest = format!("{seed_url}/api/ingest");
    let seed_posts = post_all(&seed_ingest, bodies(requests), clients);
    let ((took, seed_latencies), seed_cpu, seed_broker_cpu) =
        with_cpu(seed.0.id(), seed_posts).await;
    let seed_rate = rate(requests, took);
    drop(seed);
    let daemon = TestDaemon::start();
    let posts = async {
        let (took, latencies) =
            post_all(&daemon.at("/api/ingest"), bodies(requests), clients).await;
        (took + crate::until_stored(&daemon).await, latencies)
    };
    let ((took, latencies), daemon_cpu, _) = with_cpu(daemon.pid(), posts).await;
    let daemon_rate = rate(requests, took);

    println!();
    println!(
        "{:<64} {:>12} {:>12}",
        "single-record POSTs", "logs/s", "vs baseline"
    );
    println!(
        "{:<64} {seed_rate:>12.0} {:>11.3}x",
        format!("baseline N: the original Node LogStream → Kafka, {clients} clients"),
        1.0
    );
    print_latencies("Node", &seed_latencies);
    println!(
        "{:<64} {daemon_rate:>12.0} {:>11.3}x",
        format!("logstreamd, embedded DuckDB, {clients} clients (vs N)"),
        daemon_rate / seed_rate
    );
    print_latencies("logstreamd", &latencies);
    println!(
        "p99 latency: logstreamd {:.2}x of Node's",
        crate::percentile(&latencies, 0.99).as_secs_f64()
            / crate::percentile(&seed_latencies, 0.99).as_secs_f64()
    );
    // The client shares the 2 cores and needs more of them the faster the
    // server answers: CPU per request is the server's own cost.
    let per_thousand = |cpu: f64| cpu * 1000.0 * 1000.0 / requests as f64;
    println!(
        "server CPU per 1000 POSTs: Node {:.0} ms (+ {:.0} ms of its broker's), logstreamd {:.0} ms: {:.2}x less than Node, {:.2}x less than Node and its broker",
        per_thousand(seed_cpu),
        per_thousand(seed_broker_cpu),
        per_thousand(daemon_cpu),
        seed_cpu / daemon_cpu,
        (seed_cpu + seed_broker_cpu) / daemon_cpu
    );
    Ok(())
}
