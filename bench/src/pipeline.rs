//! `scripts/bench --pipeline`: the scale-out path on real servers (the broker
//! and ClickHouse of `scripts/services`), each figure beside a baseline
//! measured in the same run:
//!
//! - API → Kafka: 1000-record NDJSON batches through a `--role api` daemon,
//!   against the raw rdkafka producer (same settings, same JSON messages).
//! - Worker: Kafka → ClickHouse through a `--role worker` daemon, against
//!   plain bulk inserts of the same rows into ClickHouse.
//! - End to end: from the 202 to the record being found by a search.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use logstream_shared::LogRecord;
use logstream_shared::api::LogsPage;
use logstream_testkit::services;
use logstream_testkit::{TestDaemon, get_json, metric};
use logstreamd::ingest::kafka;
use rdkafka::producer::FutureRecord;

use crate::{BATCH, insert_rate, ndjson, percentile, post_all, rate};

/// Records per insert, for the worker and the plain baseline alike: small
/// enough that a run has several batches to time.
const WORKER_BATCH: usize = 20_000;

fn daemon_args<'a>(role: &'a str, queue: &'a str, store: &'a str, group: &'a str) -> Vec<&'a str> {
    vec![
        "--role",
        role,
        "--queue",
        queue,
        "--store",
        store,
        "--kafka-group",
        group,
        "--kafka-option",
        "session.timeout.ms=6000",
        "--kafka-option",
        "max.poll.interval.ms=10000",
    ]
}

/// The raw producer: the daemon's own producer (acks=all, idempotent, lz4,
/// 5 ms linger), every record's JSON as one message keyed by service.
async fn raw_produce_rate(broker: &str, topic: &str, records: &[LogRecord]) -> f64 {
    let producer = kafka::producer(broker, &[], Duration::from_secs(30)).expect("a producer");
    // The first message connects to the broker: that is not counted.
    let first = kafka::encode(&records[0]);
    producer
        .send(
            FutureRecord::to(topic).key("warm-up").payload(&first),
            Duration::from_secs(30),
        )
        .await
        .expect("raw produce");
    let started = Instant::now();
    for chunk in records.chunks(BATCH * 4) {
        let deliveries = chunk.iter().map(|record| {
            let payload = kafka::encode(record);
            let producer = producer.clone();
            async move {
                let message = FutureRecord::to(topic)
                    .key(record.service.as_bytes())
                    .payload(&payload);
                producer
                    .send(message, Duration::from_secs(30))
                    .await
                    .expect("raw produce");
            }
        });
        join_all(deliveries).await;
    }
    rate(records.len(), started.elapsed())
}

/// Rows/s of a worker draining `expected` records already in the topic,
/// from its first commit to its last: joining the group and the first batch
/// are not counted, and storing one batch while gathering the next is.
async fn worker_rate(worker: &TestDaemon, expected: usize) -> f64 {
    let mut first: Option<(f64, Instant)> = None;
    loop {
        let stored = metric(worker, "logstream_worker_records_total").await;
        if first.is_none() && stored > 0.0 {
            first = Some((stored, Instant::now()));
        }
        if stored >= expected as f64 {
            let (at_first, since) = first.expect("set above");
            return (stored - at_first) / since.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long from each single-record 202 until a search finds it, once a
/// first record has gone through (the worker has joined its group).
async fn end_to_end(daemon: &TestDaemon, samples: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let warm_up = client
        .post(daemon.at("/api/ingest"))
        .json(&serde_json::json!({"service": "e2e-warm-up", "message": "first"}))
        .send()
        .await
        .expect("post");
    assert_eq!(warm_up.status(), 202);
    loop {
        let page: LogsPage = get_json(
            &client,
            daemon,
            "/api/logs",
            &[("q", "service:e2e-warm-up")],
        )
        .await;
        if page.result > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut acked: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut next = 0;
    let mut last_post = Instant::now() - Duration::from_secs(1);
    while latencies.len() < samples {
        // A record every 20 ms while polling the newest records every 10 ms.
        if next < samples && last_post.elapsed() >= Duration::from_millis(20) {
            let id = format!("e2e-{next}-{}", std::process::id());
            let response = client
                .post(daemon.at("/api/ingest"))
                .json(&serde_json::json!({"id": id, "service": "e2e", "message": "latency probe"}))
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 202);
            acked.insert(id, Instant::now());
            (next, last_post) = (next + 1, Instant::now());
        }
        let page: LogsPage = get_json(
            &client,
            daemon,
            "/api/logs",
            &[("q", "service:e2e"), ("limit", "1000")],
        )
        .await;
        for record in page.data {
            if let Some(at) = acked.remove(&record.id) {
                latencies.push(at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies.sort();
    latencies
}

pub(crate) async fn run(records: &[LogRecord], batch_clients: usize) -> anyhow::Result<()> {
    // The worker is timed between its commits: it needs a few batches.
    anyhow::ensure!(
        records.len() >= 3 * WORKER_BATCH,
        "--pipeline needs --records {} or more (the worker is timed over several {WORKER_BATCH}-record batches)",
        3 * WORKER_BATCH
    );
    let broker = services::kafka();
    println!(
        "pipeline: broker {broker}, ClickHouse {}",
        services::clickhouse().split('@').next_back().unwrap_or("")
    );

    // API → Kafka, against the raw producer.
    let raw_rate = raw_produce_rate(&broker, &services::unique("bench_raw"), records).await;
    let topic = services::unique("bench");
    let queue = format!("kafka://{broker}/{topic}");
    let store = services::clickhouse_store_url(&services::unique("bench"));
    let group = services::unique("bench");
    let api = TestDaemon::start_with(&daemon_args("api", &queue, &store, &group));
    // As the raw producer's first message, the first request connects to
    // the broker: that is not counted.
    post_all(
        &api.at("/api/ingest"),
        vec![(ndjson(&records[..1]), "application/x-ndjson")],
        1,
    )
    .await;
    let bodies = records
        .chunks(BATCH)
        .map(|c| (ndjson(c), "application/x-ndjson"))
        .collect::<Vec<(Bytes, &str)>>();
    let api_rate = rate(
        records.len(),
        post_all(&api.at("/api/ingest"), bodies, batch_clients)
            .await
            .0,
    );

    // Worker: drain what the API produced, against plain bulk inserts.
    let plain = logstreamd::store::open(&services::clickhouse_store_url(&services::unique(
        "bench_plain",
    )))
    .await?;
    let plain_rate = insert_rate(&*plain, records, WORKER_BATCH).await?;
    let mut worker_args = daemon_args("worker", &queue, &store, &group);
    let batch_records = WORKER_BATCH.to_string();
    worker_args.extend(["--batch-records", &batch_records]);
    let worker = TestDaemon::start_with(&worker_args);
    let drain_rate = worker_rate(&worker, records.len()).await;
    drop((api, worker));

    // End to end, with both roles in one daemon and the default 1 s batch wait.
    let e2e_store = services::clickhouse_store_url(&services::unique("bench_e2e"));
    let e2e_queue = format!("kafka://{broker}/{}", services::unique("bench_e2e"));
    let both = TestDaemon::start_with(&daemon_args(
        "all",
        &e2e_queue,
        &e2e_store,
        &services::unique("e2e"),
    ));
    let latencies = end_to_end(&both, 200).await;

    println!();
    println!(
        "{:<64} {:>12} {:>12}",
        "scale-out pipeline", "logs/s", "vs baseline"
    );
    let row = |name: &str, r: f64, base: f64| println!("{name:<64} {r:>12.0} {:>11.3}x", r / base);
    row(
        "baseline K: raw rdkafka producer, same messages and settings",
        raw_rate,
        raw_rate,
    );
    let api_name =
        format!("API → Kafka, NDJSON 1000-record batches, {batch_clients} clients (vs K)");
    row(&api_name, api_rate, raw_rate);
    let plain_name = format!("baseline C: plain ClickHouse bulk inserts, {WORKER_BATCH}-row");
    row(&plain_name, plain_rate, plain_rate);
    row(
        "worker: Kafka → ClickHouse, one worker (vs C)",
        drain_rate,
        plain_rate,
    );
    println!();
    println!(
        "end to end, 202 → found by search ({} records, 1 s batch wait): p50 {:.0} ms, p99 {:.0} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    Ok(())
}
