//! `scripts/bench`: LogStream's ingest and query figures, each beside a
//! baseline measured in the same run on the same rows.
//!
//! - Baseline for ingest: the DuckDB store's own insert path (Arrow appender,
//!   one transaction per 1000 rows), in-process, no HTTP.
//! - Ingest through a real daemon: single-record POSTs from many concurrent
//!   clients, and 1000-record NDJSON batches.
//! - Query latency over all stored rows through the daemon, beside the same
//!   searches on the in-process store.
//!
//! With `--pipeline`, the scale-out path instead (see `pipeline.rs`); with
//! `--protocols`, OTLP and Loki ingest beside NDJSON (see `protocols.rs`);
//! with `--analytics`, stats, top, regex, histogram, facets and filtered
//! searches beside raw DuckDB SQL (see `analytics.rs`); with `--seed DIR`,
//! single-record POSTs beside the original Node implementation (see
//! `seed.rs`).

mod analytics;
mod lsctl;
mod pipeline;
mod protocols;
mod seed;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use clap::Parser;
use futures::StreamExt;
use logstream_shared::api::LogsPage;
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, get_json};
use logstreamd::store::{SearchRequest, Selection, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Prints ingest rates and query latencies with same-run baselines.
#[derive(Debug, Parser)]
struct Args {
    /// Records to generate and store (the query figures are over this many).
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Of those, how many go in as single-record POSTs.
    #[arg(long, default_value_t = 20_000)]
    singles: usize,
    /// Concurrent clients sending single-record POSTs.
    #[arg(long, default_value_t = 64)]
    single_clients: usize,
    /// Concurrent clients sending batches.
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
    /// Runs of each query.
    #[arg(long, default_value_t = 100)]
    query_runs: usize,
    /// Measure the scale-out path (API → Kafka → worker → ClickHouse) instead,
    /// on the servers of scripts/services (scripts/bench starts them).
    #[arg(long)]
    pipeline: bool,
    /// Measure shipping a file with `lsctl send` instead, against curl.
    #[arg(long, conflicts_with = "pipeline")]
    lsctl: bool,
    /// Measure OTLP protobuf and Loki snappy-protobuf ingest instead, against
    /// NDJSON of the same records.
    #[arg(long, conflicts_with_all = ["pipeline", "lsctl"])]
    protocols: bool,
    /// Measure the query language's stats, top and regex queries through a
    /// daemon instead, against hand-written SQL on the same DuckDB file
    /// (try --records 10000000 --query-runs 10).
    #[arg(long, conflicts_with_all = ["pipeline", "lsctl", "protocols"])]
    analytics: bool,
    /// With --analytics: ingest the records through the daemon's API
    /// (NDJSON batches), sampling its memory, instead of in-process.
    #[arg(long, requires = "analytics")]
    over_http: bool,
    /// With --analytics: store the records in, start the daemon on, and run
    /// the raw SQL on the ClickHouse server of scripts/services (scripts/bench
    /// starts it) instead of DuckDB.
    #[arg(long, requires = "analytics")]
    clickhouse: bool,
    /// Measure single-record POSTs against the original Node implementation
    /// instead: DIR is a checkout of github.com/Prateet-Github/logstream
    /// (never committed here), run on the broker of scripts/services.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["pipeline", "lsctl", "protocols", "analytics"])]
    seed: Option<std::path::PathBuf>,
    /// Measure only the DuckDB store's in-process insert rate with
    /// transactions of each of these sizes (rows), beside 1000-row ones.
    #[arg(long, value_name = "ROWS,…", value_delimiter = ',', conflicts_with_all = ["pipeline", "lsctl", "protocols", "analytics", "seed"])]
    txn_rows: Vec<usize>,
}

const BATCH: usize = 1000;
const SERVICES: [&str; 10] = [
    "api",
    "web",
    "auth",
    "billing",
    "search",
    "db",
    "cache",
    "queue",
    "mailer",
    "user-service",
];

/// Synthetic logs over the past day: mostly INFO, some WARN and ERROR, a few
/// with a rare phrase for the text search.
fn generate(n: usize) -> Vec<LogRecord> {
    let mut rng = StdRng::seed_from_u64(7);
    let start = Utc::now().timestamp_nanos_opt().unwrap() - 86_400_000_000_000;
    let step = 86_400_000_000_000 / n.max(1) as i64;
    (0..n)
        .map(|i| {
            let roll: u32 = rng.random_range(0..1000);
            let level = match roll {
                0..5 => Level::Fatal,
                5..50 => Level::Error,
                50..150 => Level::Warn,
                150..850 => Level::Info,
                _ => Level::Debug,
            };
            let message = match roll {
                0..2 => format!("deadlock detected on table orders, transaction {i} rolled back"),
                5..30 => format!(
                    "connection refused by upstream 10.0.{}.{}:5432",
                    i % 250,
                    i % 7
                ),
                _ => format!(
                    "GET /api/v1/items/{} 200 {}ms user={}",
                    i % 5000,
                    rng.random_range(1..900),
                    i % 977
                ),
            };
            LogRecord {
                id: uuid_like(i),
                timestamp: Utc.timestamp_nanos(start + step * i as i64),
                service: SERVICES[rng.random_range(0..SERVICES.len())].to_string(),
                level,
                message,
                host: Some(format!("host-{}", i % 16)),
                trace_id: None,
                span_id: None,
                attributes: [
                    ("region".to_string(), ["eu", "us", "ap"][i % 3].to_string()),
                    ("user_id".to_string(), (i % 977).to_string()),
                ]
                .into(),
            }
        })
        .collect()
}

fn uuid_like(i: usize) -> String {
    format!("00000000-0000-7000-8000-{i:012}")
}

/// Rows per second of inserting `records` in transactions of `rows` rows.
async fn insert_rate(store: &dyn Store, records: &[LogRecord], rows: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    for chunk in records.chunks(rows) {
        store.insert(chunk).await?;
    }
    Ok(rate(records.len(), started.elapsed()))
}

/// The in-process insert rate at each transaction size, beside baseline B's
/// (1000-row transactions), each into a fresh file.
async fn print_txn_rates(
    records: &[LogRecord],
    sizes: &[usize],
    url_of: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    let store = logstreamd::store::open(&url_of("baseline.duckdb")).await?;
    let baseline = insert_rate(&*store, records, BATCH).await?;
    println!();
    println!(
        "{:<64} {:>12} {:>12}",
        "DuckDB store insert, in-process", "logs/s", "vs baseline"
    );
    println!(
        "{:<64} {baseline:>12.0} {:>11.3}x",
        "baseline B: 1000-row txns", 1.0
    );
    for &rows in sizes {
        let store = logstreamd::store::open(&url_of(&format!("txn-{rows}.duckdb"))).await?;
        let r = insert_rate(&*store, records, rows).await?;
        println!(
            "{:<64} {r:>12.0} {:>11.3}x",
            format!("{rows}-row txns (vs B)"),
            r / baseline
        );
    }
    Ok(())
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Prints the percentiles of sorted request latencies, and the stalls.
fn print_latencies(what: &str, sorted: &[Duration]) {
    let stalls = sorted
        .iter()
        .filter(|l| **l > Duration::from_millis(100))
        .count();
    println!(
        "  {what} latency: p50 {}, p99 {}, max {}; {stalls} of {} over 100 ms",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
        sorted.len()
    );
}

fn ndjson(records: &[LogRecord]) -> Bytes {
    let mut body = Vec::new();
    for r in records {
        serde_json::to_writer(&mut body, r).unwrap();
        body.push(b'\n');
    }
    body.into()
}

/// Posts every body with `clients` at a time, retrying 429 and 503; each
/// must then succeed (202 on /api/ingest, 200 for OTLP, 204 for Loki). How
/// long it took, and each request's latency up to its 2xx (retries included).
async fn post_all(
    url: &str,
    bodies: Vec<(Bytes, &'static str)>,
    clients: usize,
) -> (Duration, Vec<Duration>) {
    let client = reqwest::Client::new();
    let retries = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(bodies.len())));
    let started = Instant::now();
    futures::stream::iter(bodies)
        .for_each_concurrent(clients, |(body, content_type)| {
            let client = client.clone();
            let (retries, latencies) = (Arc::clone(&retries), Arc::clone(&latencies));
            async move {
                let sent = Instant::now();
                loop {
                    let response = client
                        .post(url)
                        .header("content-type", content_type)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    match response.status().as_u16() {
                        200..300 => break,
                        429 | 503 => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => panic!(
                            "ingest answered {other}: {}",
                            response.text().await.unwrap_or_default()
                        ),
                    }
                }
                latencies.lock().unwrap().push(sent.elapsed());
            }
        })
        .await;
    let elapsed = started.elapsed();
    let retried = retries.load(Ordering::Relaxed);
    if retried > 0 {
        println!("  ({retried} requests were answered 429/503 and retried)");
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    (elapsed, latencies)
}

/// How long until the store holds every answered record: the daemon
/// answers once records are in its journal, and a query waits for the
/// store to catch up, so an ingest rate counts up to its answer.
async fn until_stored(daemon: &TestDaemon) -> Duration {
    let started = Instant::now();
    let response = reqwest::get(daemon.at("/api/logs?limit=1")).await.unwrap();
    assert!(
        response.status().is_success(),
        "a query after ingest: {}",
        response.status()
    );
    started.elapsed()
}

struct Latency {
    p50: Duration,
    p99: Duration,
    rows: usize,
}

async fn measure<F, Fut>(runs: usize, mut run: F) -> Latency
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut rows = 0;
    for _ in 0..3 {
        rows = run().await; // warm-up
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        run().await;
        times.push(started.elapsed());
    }
    times.sort();
    Latency {
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        rows,
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores, {cpu}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.singles <= args.records,
        "--singles must not exceed --records"
    );
    println!(
        "LogStream benchmark: {} records, {}",
        args.records,
        machine()
    );
    if args.analytics {
        return analytics::run(
            args.records,
            args.query_runs,
            args.over_http,
            args.clickhouse,
        )
        .await;
    }
    if let Some(checkout) = &args.seed {
        return seed::run(checkout, args.singles, args.single_clients).await;
    }
    let records = generate(args.records);
    if args.pipeline {
        return pipeline::run(&records, args.batch_clients).await;
    }
    if args.lsctl {
        return lsctl::run(&records);
    }
    if args.protocols {
        return protocols::run(&records, args.batch_clients).await;
    }

    // Baselines: the store's insert path, in-process. 1000-row transactions
    // for batches; for single records, transactions as large as the most a
    // group commit can gather from that many concurrent clients.
    let dir = tempfile::tempdir()?;
    let url_of = |name: &str| format!("duckdb://{}", dir.path().join(name).display());
    if !args.txn_rows.is_empty() {
        return print_txn_rates(&records, &args.txn_rows, &url_of).await;
    }
    let small = logstreamd::store::open(&url_of("small.duckdb")).await?;
    let (singles, rest) = records.split_at(args.singles);
    let small_baseline = insert_rate(&*small, singles, args.single_clients).await?;
    let store = logstreamd::store::open(&url_of("baseline.duckdb")).await?;
    let baseline = insert_rate(&*store, &records, BATCH).await?;

    let daemon = TestDaemon::start();
    let url = daemon.at("/api/ingest");
    let bodies = singles
        .iter()
        .map(|r| {
            (
                Bytes::from(serde_json::to_vec(r).unwrap()),
                "application/json",
            )
        })
        .collect();
    let (took, single_latencies) = post_all(&url, bodies, args.single_clients).await;
    let single_rate = rate(singles.len(), took + until_stored(&daemon).await);
    let bodies = rest
        .chunks(BATCH)
        .map(|c| (ndjson(c), "application/x-ndjson"))
        .collect();
    let took = post_all(&url, bodies, args.batch_clients).await.0;
    let batch_rate = rate(rest.len(), took + until_stored(&daemon).await);

    println!();
    println!("{:<64} {:>12} {:>12}", "ingest", "logs/s", "vs baseline");
    let row =
        |name: String, r: f64, base: f64| println!("{name:<64} {r:>12.0} {:>11.3}x", r / base);
    let clients = args.single_clients;
    row(
        format!("baseline S: DuckDB store insert, in-process, {clients}-row txns"),
        small_baseline,
        small_baseline,
    );
    row(
        format!("HTTP single-record POSTs, {clients} clients (vs S)"),
        single_rate,
        small_baseline,
    );
    print_latencies("single-record POST", &single_latencies);
    row(
        "baseline B: DuckDB store insert, in-process, 1000-row txns".into(),
        baseline,
        baseline,
    );
    row(
        format!(
            "HTTP NDJSON 1000-record batches, {} clients (vs B)",
            args.batch_clients
        ),
        batch_rate,
        baseline,
    );

    let client = reqwest::Client::new();
    let queries = [
        (
            "filtered newest-100: service:api level>=error",
            "service:api level>=error",
        ),
        (
            "text search newest-100: \"connection refused\"",
            "\"connection refused\"",
        ),
        (
            "rare text search: \"deadlock detected\"",
            "\"deadlock detected\"",
        ),
    ];
    println!();
    println!(
        "{:<50} {:>10} {:>10} {:>6} {:>22}",
        format!(
            "query over {} logs ({} runs)",
            args.records, args.query_runs
        ),
        "p50",
        "p99",
        "rows",
        "baseline p50 / p99"
    );
    for (name, q) in queries {
        let http = measure(args.query_runs, || {
            let (client, daemon) = (client.clone(), &daemon);
            async move {
                let params = [("q", q), ("limit", "100")];
                let page: LogsPage = get_json(&client, daemon, "/api/logs", &params).await;
                page.result
            }
        })
        .await;
        let request = SearchRequest {
            selection: Selection::from(q.parse::<logstream_shared::Query>()?),
            limit: 100,
            ..Default::default()
        };
        let direct = measure(args.query_runs, || {
            let store = Arc::clone(&store);
            let request = request.clone();
            async move { store.search(request).await.unwrap().records.len() }
        })
        .await;
        assert_eq!(
            http.rows, direct.rows,
            "daemon and baseline store disagree on {q}"
        );
        println!(
            "{name:<50} {:>10} {:>10} {:>6} {:>22}",
            ms(http.p50),
            ms(http.p99),
            http.rows,
            format!("{} / {}", ms(direct.p50), ms(direct.p99))
        );
    }
    Ok(())
}
