//! `scripts/bench --analytics`: the query language's analytical queries
//! through a real daemon, each beside hand-written SQL for the same answer
//! run directly on the same DuckDB file in the same run (baseline R).
//!
//! The records are made and stored in-process in chunks, so that 10M of them
//! never sit in memory at once: ~20 services, skewed levels, ~200 message
//! templates, five attributes, over the 7 days before now. The daemon is
//! then started on the file (its default `--memory-limit`); its resident
//! memory is sampled from `/metrics` while it answers. After its figures it
//! stops, and the raw SQL runs on a plain DuckDB connection with the same
//! memory limit, so the two never share the file's lock or the cores.

use std::io::Write;
use std::time::Instant;

use chrono::{SecondsFormat, TimeZone, Utc};
use logstream_shared::api::{Facets, Histogram, LogsAnswer};
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, get_json};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{Latency, measure, ms};

const DAY_NS: i64 = 86_400_000_000_000;
const CHUNK: usize = 50_000;
const SERVICES: usize = 20;
const TEMPLATES: usize = 200;
const PATHS: [&str; 8] = [
    "/api/users",
    "/api/orders",
    "/api/items",
    "/api/cart",
    "/login",
    "/health",
    "/search",
    "/checkout",
];

/// Which API endpoint a case asks.
#[derive(Clone, Copy)]
enum Endpoint {
    /// `/api/logs`: a table, or the newest 100 records.
    Logs,
    /// `/api/stats/histogram` with a 1 h step.
    Histogram,
    /// `/api/stats/facets` of `service`, the top 10.
    Facets,
}

/// How far back a case looks (it starts at now minus this; `None`: all).
#[derive(Clone, Copy)]
enum Since {
    All,
    Day,
    Week,
}

/// One query: its name, the endpoint and query language the daemon is
/// asked, the range, and the raw SQL for the same answer (its `?`, if any,
/// is the range's start).
struct Case {
    name: &'static str,
    endpoint: Endpoint,
    q: &'static str,
    since: Since,
    sql: &'static str,
}

const CASES: [Case; 8] = [
    Case {
        name: "stats count() by service",
        endpoint: Endpoint::Logs,
        q: "| stats count() by service",
        since: Since::All,
        sql: "SELECT service, count(*) FROM logs GROUP BY service ORDER BY service",
    },
    Case {
        name: "p95(duration_ms) by service, time(5m), last day",
        endpoint: Endpoint::Logs,
        q: "| stats p95(duration_ms) by service, time(5m)",
        since: Since::Day,
        sql: "SELECT service, ts // 300000000000 * 300000000000 AS bucket, \
              quantile_cont(TRY_CAST(attr_values[list_position(attr_keys, 'duration_ms')] AS DOUBLE), 0.95) \
              FROM logs WHERE ts >= ? GROUP BY ALL ORDER BY ALL",
    },
    Case {
        name: "regex search newest-100: ~\"timed? ?out after [0-9]+ms\"",
        endpoint: Endpoint::Logs,
        q: "~\"timed? ?out after [0-9]+ms\"",
        since: Since::All,
        sql: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
              FROM logs WHERE regexp_matches(message, '(?i)timed? ?out after [0-9]+ms') \
              ORDER BY ts DESC, id DESC LIMIT 100",
    },
    Case {
        name: "top 10 path",
        endpoint: Endpoint::Logs,
        q: "| top 10 path",
        since: Since::All,
        sql: "SELECT attr_values[list_position(attr_keys, 'path')] AS path, count(*) AS n FROM logs \
              WHERE path IS NOT NULL GROUP BY path ORDER BY n DESC, path LIMIT 10",
    },
    Case {
        name: "histogram, 7 days by 1h and level",
        endpoint: Endpoint::Histogram,
        q: "",
        since: Since::Week,
        sql: "SELECT ts // 3600000000000 * 3600000000000 AS bucket, level, count(*) FROM logs \
              WHERE ts >= ? GROUP BY ALL ORDER BY ALL",
    },
    Case {
        name: "facets: top 10 services",
        endpoint: Endpoint::Facets,
        q: "",
        since: Since::All,
        sql: "SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY n DESC, service LIMIT 10",
    },
    Case {
        name: "attribute equality newest-100: user_id=4242",
        endpoint: Endpoint::Logs,
        q: "user_id=4242",
        since: Since::All,
        sql: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
              FROM logs WHERE attr_values[list_position(attr_keys, 'user_id')] = '4242' \
              ORDER BY ts DESC, id DESC LIMIT 100",
    },
    Case {
        name: "newest-100: service:service-03 level:error",
        endpoint: Endpoint::Logs,
        q: "service:service-03 level:error",
        since: Since::All,
        sql: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
              FROM logs WHERE service = 'service-03' AND level = 4 \
              ORDER BY ts DESC, id DESC LIMIT 100",
    },
];

impl Since {
    fn start_ns(self, now_ns: i64) -> Option<i64> {
        match self {
            Since::All => None,
            Since::Day => Some(now_ns - DAY_NS),
            Since::Week => Some(now_ns - 7 * DAY_NS),
        }
    }
}

/// `over_http`: the records go in through the daemon's API (1000-record
/// NDJSON batches from 4 clients) while its memory is sampled, instead of
/// in-process before it starts.
pub(crate) async fn run(records: usize, runs: usize, over_http: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("logs.duckdb");
    let now_ns = Utc::now().timestamp_nanos_opt().expect("a time in range");
    let started = Instant::now();
    let mut daemon = if over_http {
        let daemon = TestDaemon::start_in(dir.path(), &[]);
        let sampler = MemorySampler::start(&daemon);
        post_records(&daemon, records, now_ns).await;
        let (peak, limit) = sampler.stop().await;
        let took = started.elapsed().as_secs_f64();
        println!(
            "ingested {records} records over HTTP in {took:.1} s ({:.0}/s); peak resident memory {:.0} MiB, --memory-limit {:.0} MiB ({:.2}x of it)",
            records as f64 / took,
            mib(peak),
            mib(limit),
            peak as f64 / limit.max(1) as f64
        );
        daemon
    } else {
        store_records(&file, records, now_ns).await?;
        println!(
            "stored {records} records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        TestDaemon::start_in(dir.path(), &[])
    };
    let sampler = MemorySampler::start(&daemon);
    let mut through_daemon = Vec::new();
    for case in &CASES {
        through_daemon.push(daemon_latency(&daemon, case, now_ns, runs).await);
    }
    let (peak, limit) = sampler.stop().await;
    daemon.terminate();

    let conn = duckdb::Connection::open(&file)?;
    conn.execute_batch(&format!("SET memory_limit = '{}KiB'", limit / 1024))?;
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "{:<56} {:>9} {:>9} {:>6} {:>18} {:>9}",
        format!("analytics over {records} logs ({runs} runs)"),
        "p50",
        "p99",
        "rows",
        "baseline R p50/p99",
        "p50 vs R"
    )?;
    for (case, daemon) in CASES.iter().zip(through_daemon) {
        let raw = raw_latency(&conn, case, now_ns, runs).await?;
        anyhow::ensure!(
            raw.rows == daemon.rows,
            "{}: the daemon answered {} rows, the raw SQL {}",
            case.name,
            daemon.rows,
            raw.rows
        );
        writeln!(
            out,
            "{:<56} {:>9} {:>9} {:>6} {:>18} {:>8.2}x",
            case.name,
            ms(daemon.p50),
            ms(daemon.p99),
            daemon.rows,
            format!("{} / {}", ms(raw.p50), ms(raw.p99)),
            daemon.p50.as_secs_f64() / raw.p50.as_secs_f64()
        )?;
    }
    writeln!(
        out,
        "daemon memory while answering: peak resident {:.0} MiB, --memory-limit {:.0} MiB ({:.2}x of it)",
        mib(peak),
        mib(limit),
        peak as f64 / limit.max(1) as f64
    )?;
    Ok(())
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Polls the daemon's `/metrics` for its resident memory, keeping the peak.
struct MemorySampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(i64, i64)>,
}

impl MemorySampler {
    fn start(daemon: &TestDaemon) -> MemorySampler {
        let url = daemon.at("/metrics");
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let (mut peak, mut limit) = (0, 0);
            loop {
                if let Ok(text) = async { reqwest::get(&url).await?.text().await }.await {
                    peak = peak.max(gauge(&text, "logstream_resident_memory_bytes"));
                    limit = gauge(&text, "logstream_store_memory_limit_bytes");
                }
                tokio::select! {
                    _ = &mut stopped => return (peak, limit),
                    () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                }
            }
        });
        MemorySampler { stop, task }
    }

    /// The peak resident memory and the memory limit, in bytes.
    async fn stop(self) -> (i64, i64) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// A gauge's value in the Prometheus text, 0 if absent.
fn gauge(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

async fn daemon_latency(daemon: &TestDaemon, case: &Case, now_ns: i64, runs: usize) -> Latency {
    let client = reqwest::Client::new();
    let since = case.since.start_ns(now_ns).map(|ns| {
        Utc.timestamp_nanos(ns)
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    });
    let mut params = vec![("q", case.q.to_string())];
    params.extend(since.map(|since| ("since", since)));
    let path = match case.endpoint {
        Endpoint::Logs => {
            // Tables answer whole; a search answers its newest 100.
            let limit = if case.q.starts_with('|') {
                "10000"
            } else {
                "100"
            };
            params.push(("limit", limit.into()));
            "/api/logs"
        }
        Endpoint::Histogram => {
            params.push(("step", "1h".into()));
            "/api/stats/histogram"
        }
        Endpoint::Facets => {
            params.extend([("field", "service".into()), ("limit", "10".into())]);
            "/api/stats/facets"
        }
    };
    measure(runs, || {
        let (client, params) = (client.clone(), &params);
        async move { answer_rows(case.endpoint, &client, daemon, path, params).await }
    })
    .await
}

/// The rows of an answer, counted as the raw SQL counts them: a
/// histogram's non-zero (bucket, level) counts.
async fn answer_rows(
    endpoint: Endpoint,
    client: &reqwest::Client,
    daemon: &TestDaemon,
    path: &str,
    params: &[(&str, String)],
) -> usize {
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let params = &params[..];
    match endpoint {
        Endpoint::Logs => match get_json::<LogsAnswer>(client, daemon, path, params).await {
            LogsAnswer::Table(table) => table.result,
            LogsAnswer::Records(page) => page.result,
        },
        Endpoint::Histogram => get_json::<Histogram>(client, daemon, path, params)
            .await
            .buckets
            .iter()
            .map(|bucket| bucket.counts.len())
            .sum(),
        Endpoint::Facets => get_json::<Facets>(client, daemon, path, params)
            .await
            .values
            .len(),
    }
}

/// The raw SQL's latency, timed by [`measure`] (the query runs when it is
/// called, inside the timing).
async fn raw_latency(
    conn: &duckdb::Connection,
    case: &Case,
    now_ns: i64,
    runs: usize,
) -> anyhow::Result<Latency> {
    let mut statement = conn.prepare(case.sql)?;
    let since_ns = case.since.start_ns(now_ns);
    let mut run = || -> anyhow::Result<usize> {
        let rows = match since_ns {
            Some(since_ns) => statement.query([since_ns])?,
            None => statement.query([])?,
        };
        // Every value read, as the daemon reads them to answer.
        let columns = rows.as_ref().map_or(0, |s| s.column_count());
        let values = rows.mapped(|row| {
            (0..columns)
                .map(|i| row.get::<_, duckdb::types::Value>(i))
                .collect::<Result<Vec<_>, _>>()
        });
        Ok(values.collect::<Result<Vec<_>, _>>()?.len())
    };
    Ok(measure(runs, || {
        let rows = run().unwrap_or_else(|e| panic!("{}: {e:#}", case.sql));
        std::future::ready(rows)
    })
    .await)
}

/// Generates and stores the records chunk by chunk, oldest first.
async fn store_records(file: &std::path::Path, n: usize, now_ns: i64) -> anyhow::Result<()> {
    let store = logstreamd::store::open(&format!("duckdb://{}", file.display())).await?;
    for chunk in chunks(n, now_ns) {
        store.insert(&chunk).await?;
    }
    Ok(())
}

/// The records through the daemon's API, until it has stored them all.
async fn post_records(daemon: &TestDaemon, n: usize, now_ns: i64) {
    let url = daemon.at("/api/ingest");
    for records in chunks(n, now_ns) {
        let bodies = records
            .chunks(crate::BATCH)
            .map(|batch| (crate::ndjson(batch), "application/x-ndjson"))
            .collect();
        crate::post_all(&url, bodies, 4).await;
    }
    crate::until_stored(daemon).await;
}

/// The `n` records over the 7 days before `now_ns`, in chunks of
/// [`CHUNK`], generated as they are taken.
fn chunks(n: usize, now_ns: i64) -> impl Iterator<Item = Vec<LogRecord>> {
    let mut rng = StdRng::seed_from_u64(10);
    let start = now_ns - 7 * DAY_NS;
    let step = 7 * DAY_NS / n.max(1) as i64;
    (0..n).step_by(CHUNK).map(move |first| {
        (first..n.min(first + CHUNK))
            .map(|i| record(&mut rng, i, start + step * i as i64))
            .collect()
    })
}

/// Record `i`: a service picked with a skew (the first ones log most), a
/// level mostly INFO, one of [`TEMPLATES`] messages, and attributes.
fn record(rng: &mut StdRng, i: usize, ts: i64) -> LogRecord {
    let service = (rng.random_range(0.0f64..1.0).powi(2) * SERVICES as f64) as usize;
    let level = match rng.random_range(0..1000) {
        0..3 => Level::Fatal,
        3..40 => Level::Error,
        40..120 => Level::Warn,
        120..800 => Level::Info,
        800..950 => Level::Debug,
        _ => Level::Trace,
    };
    let template = rng.random_range(0..TEMPLATES);
    let duration = rng.random_range(1.0f64..2000.0);
    let path = PATHS[rng.random_range(0..PATHS.len())];
    let message = match template {
        0 => format!("upstream timed out after {duration:.0}ms"),
        1 => format!("request timeout after {duration:.0}ms on {path}"),
        t => format!("event {t}: GET {path} took {duration:.1}ms"),
    };
    let status = if level >= Level::Error { "500" } else { "200" };
    LogRecord {
        id: format!("00000000-0000-7000-8000-{i:012}"),
        timestamp: Utc.timestamp_nanos(ts),
        service: format!("service-{service:02}"),
        level,
        message,
        host: Some(format!("host-{}", i % 32)),
        trace_id: Some(format!("{:032x}", rng.random::<u128>())),
        span_id: None,
        attributes: [
            ("duration_ms".to_string(), format!("{duration:.1}")),
            ("status".to_string(), status.to_string()),
            ("path".to_string(), path.to_string()),
            ("user_id".to_string(), (i % 5000).to_string()),
            ("region".to_string(), ["eu", "us", "ap"][i % 3].to_string()),
        ]
        .into(),
    }
}
