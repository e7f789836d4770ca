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
use std::path::PathBuf;
use std::time::Instant;

use chrono::{SecondsFormat, TimeZone, Utc};
use logstream_shared::api::{Facets, Histogram, LogsAnswer};
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, get_json, services};
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
/// asked, the range, and the raw SQL for the same answer: for DuckDB (its
/// `?`, if any, is the range's start) and for ClickHouse (`{since}`).
struct Case {
    name: &'static str,
    endpoint: Endpoint,
    q: &'static str,
    since: Since,
    sql: &'static str,
    clickhouse: &'static str,
}

const CASES: [Case; 8] = [
    Case {
        name: "stats count() by service",
        endpoint: Endpoint::Logs,
        q: "| stats count() by service",
        since: Since::All,
        sql: "SELECT service, count(*) FROM logs GROUP BY service ORDER BY service",
        clickhouse: "SELECT service, count() FROM logs GROUP BY service ORDER BY service",
    },
    Case {
        name: "p95(duration_ms) by service, time(5m), last day",
        endpoint: Endpoint::Logs,
        q: "| stats p95(duration_ms) by service, time(5m)",
        since: Since::Day,
        sql: "SELECT service, ts // 300000000000 * 300000000000 AS bucket, \
              quantile_cont(TRY_CAST(attr_values[list_position(attr_keys, 'duration_ms')] AS DOUBLE), 0.95) \
              FROM logs WHERE ts >= ? GROUP BY ALL ORDER BY ALL",
        clickhouse: "SELECT service, intDiv(ts, 300000000000) * 300000000000 AS bucket, \
                     quantile(0.95)(toFloat64OrNull(attr_values[indexOf(attr_keys, 'duration_ms')])) \
                     FROM logs WHERE ts >= {since} GROUP BY service, bucket ORDER BY service, bucket",
    },
    Case {
        name: "regex search newest-100: ~\"timed? ?out after [0-9]+ms\"",
        endpoint: Endpoint::Logs,
        q: "~\"timed? ?out after [0-9]+ms\"",
        since: Since::All,
        sql: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
              FROM logs WHERE regexp_matches(message, '(?i)timed? ?out after [0-9]+ms') \
              ORDER BY ts DESC, id DESC LIMIT 100",
        clickhouse: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
                     FROM logs WHERE match(message, '(?i)timed? ?out after [0-9]+ms') \
                     ORDER BY ts DESC, id DESC LIMIT 100",
    },
    Case {
        name: "top 10 path",
        endpoint: Endpoint::Logs,
        q: "| top 10 path",
        since: Since::All,
        sql: "SELECT attr_values[list_position(attr_keys, 'path')] AS path, count(*) AS n FROM logs \
              WHERE path IS NOT NULL GROUP BY path ORDER BY n DESC, path LIMIT 10",
        clickhouse: "SELECT attr_values[indexOf(attr_keys, 'path')] AS path, count() AS n FROM logs \
                     WHERE has(attr_keys, 'path') GROUP BY path ORDER BY n DESC, path LIMIT 10",
    },
    Case {
        name: "histogram, 7 days by 1h and level",
        endpoint: Endpoint::Histogram,
        q: "",
        since: Since::Week,
        sql: "SELECT ts // 3600000000000 * 3600000000000 AS bucket, level, count(*) FROM logs \
              WHERE ts >= ? GROUP BY ALL ORDER BY ALL",
        clickhouse: "SELECT intDiv(ts, 3600000000000) * 3600000000000 AS bucket, level, count() FROM logs \
                     WHERE ts >= {since} GROUP BY bucket, level ORDER BY bucket, level",
    },
    Case {
        name: "facets: top 10 services",
        endpoint: Endpoint::Facets,
        q: "",
        since: Since::All,
        sql: "SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY n DESC, service LIMIT 10",
        clickhouse: "SELECT service, count() AS n FROM logs GROUP BY service ORDER BY n DESC, service LIMIT 10",
    },
    Case {
        name: "attribute equality newest-100: user_id=4242",
        endpoint: Endpoint::Logs,
        q: "user_id=4242",
        since: Since::All,
        sql: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
              FROM logs WHERE attr_values[list_position(attr_keys, 'user_id')] = '4242' \
              ORDER BY ts DESC, id DESC LIMIT 100",
        clickhouse: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
                     FROM logs WHERE attr_values[indexOf(attr_keys, 'user_id')] = '4242' \
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
        clickhouse: "SELECT ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values \
                     FROM logs WHERE service = 'service-03' AND level = 'ERROR' \
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

/// Where the records are stored and the raw SQL runs: the daemon's
/// embedded DuckDB file, or a database of its own on the ClickHouse server
/// of `scripts/services` (the daemon then runs with `--store clickhouse://…`).
enum Target {
    DuckDb(PathBuf),
    ClickHouse { database: String },
}

impl Target {
    fn store_url(&self) -> String {
        match self {
            Target::DuckDb(file) => format!("duckdb://{}", file.display()),
            Target::ClickHouse { database } => services::clickhouse_store_url(database),
        }
    }

    /// The daemon's arguments for this store.
    fn daemon_args(&self) -> Vec<String> {
        match self {
            Target::DuckDb(_) => Vec::new(),
            Target::ClickHouse { .. } => vec!["--store".into(), self.store_url()],
        }
    }
}

/// `over_http`: the records go in through the daemon's API (1000-record
/// NDJSON batches from 4 clients) while its memory is sampled, instead of
/// in-process before it starts. `clickhouse`: the records, the daemon and
/// the raw SQL on ClickHouse instead of DuckDB.
pub(crate) async fn run(
    records: usize,
    runs: usize,
    over_http: bool,
    clickhouse: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = if clickhouse {
        Target::ClickHouse {
            database: services::unique("bench_analytics"),
        }
    } else {
        Target::DuckDb(dir.path().join("logs.duckdb"))
    };
    let args = target.daemon_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let now_ns = Utc::now().timestamp_nanos_opt().expect("a time in range");
    let started = Instant::now();
    let mut daemon = if over_http {
        let daemon = TestDaemon::start_in(dir.path(), &args);
        let sampler = MemorySampler::start(&daemon);
        post_records(&daemon, records, now_ns).await;
        let (peak, limit) = sampler.stop().await;
        let took = started.elapsed().as_secs_f64();
        println!(
            "ingested {records} records over HTTP in {took:.1} s ({:.0}/s); {}",
            records as f64 / took,
            memory(peak, limit)
        );
        daemon
    } else {
        store_records(&target.store_url(), records, now_ns).await?;
        println!(
            "stored {records} records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        TestDaemon::start_in(dir.path(), &args)
    };
    let sampler = MemorySampler::start(&daemon);
    let mut through_daemon = Vec::new();
    for case in &CASES {
        through_daemon.push(daemon_latency(&daemon, case, now_ns, runs).await);
    }
    let (peak, limit) = sampler.stop().await;
    daemon.terminate();

    let raw = Raw::open(&target, limit)?;
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "{:<56} {:>9} {:>9} {:>6} {:>18} {:>9}",
        format!(
            "analytics over {records} logs in {} ({runs} runs)",
            raw.name()
        ),
        "p50",
        "p99",
        "rows",
        "baseline R p50/p99",
        "p50 vs R"
    )?;
    for (case, daemon) in CASES.iter().zip(through_daemon) {
        let raw = raw.latency(case, now_ns, runs).await?;
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
        "daemon memory while answering: {}",
        memory(peak, limit)
    )?;
    if let Target::ClickHouse { database } = &target {
        services::clickhouse_sql(&format!("DROP DATABASE IF EXISTS {database}")).await;
    }
    Ok(())
}

/// The peak resident memory, beside the store's memory limit if it has one.
fn memory(peak: i64, limit: i64) -> String {
    let resident = format!("peak resident {:.0} MiB", mib(peak));
    if limit == 0 {
        return resident;
    }
    format!(
        "{resident}, --memory-limit {:.0} MiB ({:.2}x of it)",
        mib(limit),
        peak as f64 / limit as f64
    )
}

/// Baseline R's connection: a plain DuckDB connection to the file (with the
/// daemon's memory limit), or ClickHouse's HTTP interface.
enum Raw {
    DuckDb(duckdb::Connection),
    ClickHouse {
        client: reqwest::Client,
        database: String,
    },
}

impl Raw {
    fn open(target: &Target, memory_limit: i64) -> anyhow::Result<Raw> {
        Ok(match target {
            Target::DuckDb(file) => {
                let conn = duckdb::Connection::open(file)?;
                conn.execute_batch(&format!("SET memory_limit = '{}KiB'", memory_limit / 1024))?;
                Raw::DuckDb(conn)
            }
            Target::ClickHouse { database } => Raw::ClickHouse {
                client: reqwest::Client::new(),
                database: database.clone(),
            },
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Raw::DuckDb(_) => "DuckDB",
            Raw::ClickHouse { .. } => "ClickHouse",
        }
    }

    async fn latency(&self, case: &Case, now_ns: i64, runs: usize) -> anyhow::Result<Latency> {
        match self {
            Raw::DuckDb(conn) => raw_latency(conn, case, now_ns, runs).await,
            Raw::ClickHouse { client, database } => {
                Ok(clickhouse_latency(client, database, case, now_ns, runs).await)
            }
        }
    }
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

/// The raw SQL's latency on ClickHouse over HTTP, every value read as
/// tab-separated text (one line a row).
async fn clickhouse_latency(
    client: &reqwest::Client,
    database: &str,
    case: &Case,
    now_ns: i64,
    runs: usize,
) -> Latency {
    let since = case.since.start_ns(now_ns).unwrap_or(0).to_string();
    let sql = format!(
        "{} FORMAT TabSeparated",
        case.clickhouse.replace("{since}", &since)
    );
    let url = services::clickhouse();
    measure(runs, || {
        let request = client
            .post(&url)
            .query(&[("database", database)])
            .body(sql.clone());
        async {
            let response = request.send().await.expect("ClickHouse answers");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "{sql}: ClickHouse said {status}: {text}"
            );
            text.lines().count()
        }
    })
    .await
}

/// Generates and stores the records chunk by chunk, oldest first.
async fn store_records(store_url: &str, n: usize, now_ns: i64) -> anyhow::Result<()> {
    let store = logstreamd::store::open(store_url).await?;
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
