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
    let child = Command::new(api.join("node_modules/.bin/tsx"))
        .arg("server.ts")
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

    let (took, seed_latencies) =
        post_all(&format!("{seed_url}/api/ingest"), bodies(requests), clients).await;
    let seed_rate = rate(requests, took);
    drop(seed);
    let daemon = TestDaemon::start();
    let (took, latencies) = post_all(&daemon.at("/api/ingest"), bodies(requests), clients).await;
    let daemon_rate = rate(requests, took + crate::until_stored(&daemon).await);

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
    Ok(())
}
