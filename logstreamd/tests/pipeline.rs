//! The scale-out pipeline end to end on real servers: API → Kafka (tansu) →
//! worker → ClickHouse, with the roles in separate processes, and the fault
//! tests: a worker SIGKILLed mid-batch, a ClickHouse outage under load, a
//! broker outage. Each asserts that every acknowledged record is stored and
//! reports duplicates, which must stay within one batch per crash.
//!
//! Every test uses its own topic, consumer group and database; they need the
//! services of `scripts/services` (run by `scripts/test`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logstream_testkit::services::{self, PrivateBroker, PrivateClickHouse};
use logstream_testkit::{TestDaemon, fetch_all, metric};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Records per worker batch in these tests: the bound on duplicates per crash.
const BATCH: usize = 2000;

/// Flags for a daemon on `broker` and `store`, with its own topic and group.
/// Short Kafka session settings let tansu form groups in seconds.
fn pipeline_args(broker: &str, topic: &str, group: &str, store: &str) -> Vec<String> {
    [
        "--queue",
        &format!("kafka://{broker}/{topic}"),
        "--store",
        store,
        "--kafka-group",
        group,
        "--kafka-partitions",
        "4",
        "--batch-records",
        &BATCH.to_string(),
        "--batch-wait",
        "300ms",
        "--kafka-timeout",
        "3s",
        "--kafka-option",
        "session.timeout.ms=6000",
        "--kafka-option",
        "max.poll.interval.ms=10000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start(role: &str, args: &[String]) -> TestDaemon {
    let mut all: Vec<&str> = vec!["--role", role];
    all.extend(args.iter().map(String::as_str));
    TestDaemon::start_with(&all)
}

fn batch(prefix: &str, size: usize) -> Vec<Value> {
    (0..size)
        .map(|i| {
            json!({
                "id": format!("{prefix}-{i}"),
                "service": format!("svc-{}", i % 7),
                "level": "info",
                "message": format!("record {i} of {prefix}"),
            })
        })
        .collect()
}

/// Posts a batch; the ids if it was acknowledged (202), else the status.
async fn post(client: &reqwest::Client, url: &str, records: &[Value]) -> Result<Vec<String>, u16> {
    let response = client
        .post(format!("{url}/api/ingest"))
        .json(records)
        .send()
        .await
        .map_err(|_| 0u16)?;
    match response.status().as_u16() {
        202 => Ok(records
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()),
        status => Err(status),
    }
}

/// Clients posting batches of 50 until `stop`, collecting acknowledged ids.
/// Anything but 202 (429, 503 while Kafka is down) is retried later.
fn spawn_clients(
    url: &str,
    clients: usize,
    acked: &Arc<Mutex<Vec<String>>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<JoinHandle<()>> {
    (0..clients)
        .map(|n| {
            let (url, acked, stop) = (url.to_string(), Arc::clone(acked), Arc::clone(stop));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for seq in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let records = batch(&format!("c{n}-b{seq}"), 50);
                    match post(&client, &url, &records).await {
                        Ok(ids) => acked.lock().unwrap().extend(ids),
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        })
        .collect()
}

/// Waits until every id in `acked` is stored (searching through `reader`),
/// then returns how many ids are stored more than once.
async fn wait_until_stored(reader: &TestDaemon, acked: &[String], within: Duration) -> usize {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        let stored = fetch_all(&client, reader, "").await;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for record in stored {
            *counts.entry(record.id).or_default() += 1;
        }
        let missing: Vec<&String> = acked
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .collect();
        if missing.is_empty() {
            let duplicates = counts.values().filter(|n| **n > 1).count();
            println!(
                "{} acknowledged, all stored; {duplicates} stored twice",
                acked.len()
            );
            return duplicates;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged records not stored after {within:?}, e.g. {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn records_flow_through_kafka_into_clickhouse_exactly_once() {
    let args = pipeline_args(
        &services::kafka(),
        &services::unique("flow"),
        &services::unique("group"),
        &services::clickhouse_store_url(&services::unique("flow")),
    );
    let daemon = start("all", &args);
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    for n in 0..20 {
        acked.extend(
            post(&client, &daemon.url, &batch(&format!("b{n}"), 250))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        wait_until_stored(&daemon, &acked, Duration::from_secs(60)).await,
        0
    );
    assert_eq!(
        metric(&daemon, "logstream_ingested_records_total").await,
        5000.0
    );
    assert_eq!(
        metric(&daemon, "logstream_worker_records_total").await,
        5000.0
    );
    // The API's answer did not wait for the store: the record is in Kafka, readable as JSON.
    let page: Value = reqwest::get(daemon.at("/api/logs?q=id:b3-7"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["message"], "record 7 of b3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn workers_in_one_group_share_the_partitions() {
    let args = pipeline_args(
        &services::kafka(),
        &services::unique("share"),
        &services::unique("group"),
        &services::clickhouse_store_url(&services::unique("share")),
    );
    let api = start("api", &args);
    let workers = [start("worker", &args), start("worker", &args)];
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    for n in 0..40 {
        acked.extend(
            post(&client, &api.url, &batch(&format!("b{n}"), 100))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        wait_until_stored(&api, &acked, Duration::from_secs(90)).await,
        0
    );
    let mut stored_by = Vec::new();
    for worker in &workers {
        stored_by.push(metric(worker, "logstream_worker_records_total").await);
    }
    assert_eq!(
        stored_by.iter().sum::<f64>(),
        4000.0,
        "per worker: {stored_by:?}"
    );
    assert!(
        stored_by.iter().all(|n| *n > 0.0),
        "one worker did all the work: {stored_by:?}"
    );
    // A worker serves health and metrics, not the API.
    let health = reqwest::get(workers[0].at("/api/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let logs = reqwest::get(workers[0].at("/api/logs")).await.unwrap();
    assert_eq!(logs.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn undecodable_messages_go_to_the_dead_letter_topic() {
    let (broker, topic) = (services::kafka(), services::unique("dlq"));
    let args = pipeline_args(
        &broker,
        &topic,
        &services::unique("group"),
        &services::clickhouse_store_url(&services::unique("dlq")),
    );
    let daemon = start("all", &args);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .create()
        .unwrap();
    let garbage: [&[u8]; 3] = [
        b"not json at all",
        br#"{"id":"x","timestamp":"2024-01-01T00:00:00Z","service":"","level":"INFO","message":"m"}"#,
        br#"{"service":"api","level":"LOUD","message":"m"}"#,
    ];
    for payload in garbage {
        producer
            .send(
                FutureRecord::<(), _>::to(&topic).payload(payload),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    let client = reqwest::Client::new();
    let acked = post(&client, &daemon.url, &batch("good", 10))
        .await
        .unwrap();
    assert_eq!(
        wait_until_stored(&daemon, &acked, Duration::from_secs(60)).await,
        0
    );

    let consumer = dead_letter_reader(&broker, &topic);
    let mut letters = Vec::new();
    while letters.len() < garbage.len() {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .expect("dead letters arrive")
            .unwrap();
        let header = |key: &str| header_of(&message, key);
        letters.push((
            message.payload().unwrap_or_default().to_vec(),
            header("logstream-error"),
            header("logstream-source"),
        ));
    }
    letters.sort();
    let mut expected: Vec<&[u8]> = garbage.to_vec();
    expected.sort();
    for ((payload, reason, source), original) in letters.iter().zip(expected) {
        assert_eq!(payload.as_slice(), original, "the original payload is kept");
        assert!(
            !reason.is_empty() && source.starts_with(&topic),
            "{reason} / {source}"
        );
    }
    assert!(
        letters
            .iter()
            .any(|(_, reason, _)| reason.contains("not a LogStream record"))
    );
    assert!(
        letters
            .iter()
            .any(|(_, reason, _)| reason.contains("service"))
    );
    assert_eq!(metric(&daemon, "logstream_dead_letters_total").await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn a_worker_killed_mid_batch_loses_nothing() {
    let args = pipeline_args(
        &services::kafka(),
        &services::unique("kill"),
        &services::unique("group"),
        &services::clickhouse_store_url(&services::unique("kill")),
    );
    let api = start("api", &args);
    let mut worker = start("worker", &args);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = spawn_clients(&api.url, 4, &acked, &stop);
    for crash in 0..2 {
        // Kill the worker once it has stored a batch and holds another it
        // has read but not committed: that batch must be read again.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let consumed = metric(&worker, "logstream_worker_consumed_records_total").await;
            let stored = metric(&worker, "logstream_worker_records_total").await
                + metric(&worker, "logstream_dead_letters_total").await;
            if stored > 0.0 && consumed > stored {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "crash {crash}: in 60 s the worker never held an uncommitted batch \
                 after storing one ({consumed} read, {stored} stored)"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worker.kill();
        worker = start("worker", &args);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let duplicates = wait_until_stored(&api, &acked, Duration::from_secs(120)).await;
    // A crash reads again at most the two batches being stored.
    assert!(
        duplicates <= 2 * 2 * BATCH,
        "{duplicates} duplicates after 2 crashes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn a_clickhouse_outage_under_load_loses_nothing() {
    let mut clickhouse = PrivateClickHouse::start();
    let args = pipeline_args(
        &services::kafka(),
        &services::unique("outage"),
        &services::unique("group"),
        &clickhouse.store_url("outage"),
    );
    let daemon = start("all", &args);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = spawn_clients(&daemon.url, 4, &acked, &stop);
    while acked.lock().unwrap().len() < 2000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    clickhouse.stop();
    // Kafka still takes the load while the store is down.
    let during = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        acked.lock().unwrap().len() > during + 500,
        "ingest stalled with the store down"
    );
    clickhouse.resume();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let duplicates = wait_until_stored(&daemon, &acked, Duration::from_secs(120)).await;
    assert!(
        duplicates <= BATCH,
        "{duplicates} duplicates after one outage"
    );
    assert!(metric(&daemon, "logstream_store_retries_total").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn a_broker_outage_answers_503_never_202_and_recovers() {
    let mut broker = PrivateBroker::start();
    let args = pipeline_args(
        &broker.address(),
        "outage",
        "workers",
        &services::clickhouse_store_url(&services::unique("broker")),
    );
    let daemon = start("all", &args);
    let client = reqwest::Client::new();
    let mut acked = post(&client, &daemon.url, &batch("before", 100))
        .await
        .unwrap();
    // tansu keeps messages in memory only: let them reach the store first.
    wait_until_stored(&daemon, &acked, Duration::from_secs(60)).await;

    broker.stop();
    let mut answers = Vec::new();
    for n in 0..3 {
        let records = batch(&format!("down{n}"), 10);
        let response = client
            .post(daemon.at("/api/ingest"))
            .json(&records)
            .send()
            .await
            .unwrap();
        assert!(
            response.headers().contains_key("retry-after") || response.status() == 202,
            "no Retry-After"
        );
        answers.push(response.status().as_u16());
    }
    assert_eq!(answers, [503, 503, 503], "while the broker is down");

    broker.resume();
    let deadline = Instant::now() + Duration::from_secs(60);
    let recovered = loop {
        match post(&client, &daemon.url, &batch("after", 100)).await {
            Ok(ids) => break ids,
            Err(status) => {
                assert_eq!(status, 503, "while the broker comes back");
                assert!(
                    Instant::now() < deadline,
                    "no 202 within 60 s of the broker's return"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    acked.extend(recovered);
    assert_eq!(
        wait_until_stored(&daemon, &acked, Duration::from_secs(90)).await,
        0
    );
}

/// A consumer of `topic`'s dead-letter topic from its start, in a group of
/// its own.
/// A header of a Kafka message as text, "" when it has none of that name.
fn header_of(message: &impl Message, key: &str) -> String {
    message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == key))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).to_string())
        .unwrap_or_default()
}

fn dead_letter_reader(broker: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", services::unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "10000")
        .create()
        .unwrap();
    consumer.subscribe(&[&format!("{topic}-dlq")]).unwrap();
    consumer
}

/// `GET /api/health` until it answers `status`, or panics after `within`;
/// the last body.
async fn wait_for_health(daemon: &TestDaemon, status: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (got, body) = match reqwest::get(daemon.at("/api/health")).await {
            Ok(response) => (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ),
            Err(e) => (0, e.to_string()),
        };
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "health did not answer {status} within {within:?}; last {got}: {body}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn a_worker_health_reports_a_broker_outage_and_recovers() {
    let mut broker = PrivateBroker::start();
    let store = services::clickhouse_store_url(&services::unique("health"));
    let args = pipeline_args(&broker.address(), "health", "workers", &store);
    let worker = start("worker", &args);
    wait_for_health(&worker, 200, Duration::from_secs(30)).await;

    broker.stop();
    let down = wait_for_health(&worker, 503, Duration::from_secs(30)).await;
    assert!(down.contains("no Kafka broker"), "{down}");

    broker.resume();
    wait_for_health(&worker, 200, Duration::from_secs(60)).await;
    // And it consumes again: what the API acknowledges now is stored.
    let api = start("api", &args);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let acked = loop {
        match post(&client, &api.url, &batch("after-outage", 50)).await {
            Ok(ids) => break ids,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(status) => panic!("the API answered {status} for 60 s after the broker's return"),
        }
    };
    assert_eq!(
        wait_until_stored(&api, &acked, Duration::from_secs(90)).await,
        0
    );
}

/// Where Compose's `depends_on` does not hold (a host restart), a worker
/// can start before Kafka: it must keep trying, say so, and then consume.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn a_worker_started_before_kafka_restarts_itself_and_then_consumes() {
    let mut broker = PrivateBroker::start();
    broker.stop();
    let store = services::clickhouse_store_url(&services::unique("early"));
    let args = pipeline_args(&broker.address(), "early", "workers", &store);
    let worker = start("worker", &args);
    let failing = wait_for_health(&worker, 503, Duration::from_secs(10)).await;
    assert!(failing.contains("worker"), "{failing}");
    let restarting = Duration::from_secs(40);
    let deadline = Instant::now() + restarting;
    while !worker.log().contains("starting it again") {
        assert!(
            Instant::now() < deadline,
            "the worker did not fail and restart:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    broker.resume();
    wait_for_health(&worker, 200, Duration::from_secs(90)).await;
    let api = start("api", &args);
    let acked = post(&reqwest::Client::new(), &api.url, &batch("late", 50))
        .await
        .expect("the API acknowledges once Kafka is up");
    assert_eq!(
        wait_until_stored(&api, &acked, Duration::from_secs(90)).await,
        0
    );
}

/// A message that fills Kafka's limit (accepted by the broker and a default
/// producer) used to become a dead letter too large to send, and the worker
/// retried it forever: nothing acknowledged after it was ever stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn a_message_too_large_to_dead_letter_whole_is_cut_and_blocks_nothing() {
    let (broker, topic) = (services::kafka(), services::unique("huge"));
    let args = pipeline_args(
        &broker,
        &topic,
        &services::unique("group"),
        &services::clickhouse_store_url(&services::unique("huge")),
    );
    let daemon = start("all", &args);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .create()
        .unwrap();
    let huge = vec![b'x'; 999_900];
    producer
        .send(
            FutureRecord::<(), _>::to(&topic).payload(&huge),
            Duration::from_secs(10),
        )
        .await
        .expect("the broker takes a message of 999,900 bytes");
    let acked = post(
        &reqwest::Client::new(),
        &daemon.url,
        &batch("after-huge", 10),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_until_stored(&daemon, &acked, Duration::from_secs(60)).await,
        0
    );

    let consumer = dead_letter_reader(&broker, &topic);
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .expect("the dead letter arrives")
        .unwrap();
    let truncated = message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == "logstream-truncated"))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).to_string());
    assert_eq!(truncated.as_deref(), Some("999900"));
    let payload = message.payload().unwrap_or_default();
    assert!(payload.len() < huge.len() && payload.iter().all(|b| *b == b'x'));
    assert_eq!(metric(&daemon, "logstream_dead_letters_total").await, 1.0);
}

/// The shipper protocols end in the same sink: through Kafka, answered only
/// once Kafka has the records, and stored by the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka and ClickHouse: scripts/test starts them"]
async fn shipper_protocols_go_through_kafka_like_native_ingest() {
    let args = pipeline_args(
        &services::kafka(),
        &services::unique("shippers"),
        &services::unique("group"),
        &services::clickhouse_store_url(&services::unique("shippers")),
    );
    let daemon = start("all", &args);
    let client = reqwest::Client::new();
    let run = services::unique("via-kafka");
    let otlp = json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "otlp-app"}}]},
        "scopeLogs": [{"logRecords": [{"severityText": "WARN",
            "body": {"stringValue": format!("{run} otlp")}}]}]}]});
    let loki = json!({"streams": [{"stream": {"service_name": "loki-app", "level": "error"},
        "values": [["1714564800000000000", format!("{run} loki")]]}]});
    let bulk = format!(
        "{}\n{}\n",
        json!({"index": {}}),
        json!({"message": format!("{run} bulk"), "log.level": "debug"})
    );
    let requests = [
        ("/v1/logs", "application/json", otlp.to_string(), 200),
        (
            "/loki/api/v1/push",
            "application/json",
            loki.to_string(),
            204,
        ),
        ("/es-app/_bulk", "application/x-ndjson", bulk, 200),
    ];
    for (path, content_type, body, status) in requests {
        let response = client
            .post(daemon.at(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let stored = fetch_all(&client, &daemon, &format!("\"{run}\"")).await;
        if stored.len() >= 3 || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut got: Vec<(String, String, String)> = stored
        .iter()
        .map(|r| (r.message.clone(), r.service.clone(), r.level.to_string()))
        .collect();
    got.sort();
    let want = |what: &str, service: &str, level: &str| {
        (
            format!("{run} {what}"),
            service.to_string(),
            level.to_string(),
        )
    };
    assert_eq!(
        got,
        [
            want("bulk", "es-app", "DEBUG"),
            want("loki", "loki-app", "ERROR"),
            want("otlp", "otlp-app", "WARN"),
        ]
    );
}

/// Issue 14: a batch the store keeps refusing (not an outage: the store is
/// healthy, it refuses some records) held its partitions forever, retried
/// without end. The worker splits it to find the records the store refuses
/// on their own, dead-letters those and stores the rest. The refusal here
/// is a CHECK constraint an operator put on the embedded store's table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Kafka: scripts/test starts it"]
async fn records_the_store_keeps_refusing_are_dead_lettered_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.duckdb");
    duckdb::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE logs (
                ts BIGINT NOT NULL, id VARCHAR NOT NULL, service VARCHAR NOT NULL,
                level UTINYINT NOT NULL, message VARCHAR NOT NULL CHECK (message NOT LIKE '%poison%'),
                host VARCHAR, trace_id VARCHAR, span_id VARCHAR,
                attr_keys VARCHAR[] NOT NULL, attr_values VARCHAR[] NOT NULL, seq BIGINT)",
        )
        .unwrap();
    let (broker, topic) = (services::kafka(), services::unique("refused"));
    let store = format!("duckdb://{}", path.display());
    let daemon = start(
        "all",
        &pipeline_args(&broker, &topic, &services::unique("group"), &store),
    );
    let mut records = batch("r", 40);
    for poisoned in [7, 23] {
        records[poisoned]["message"] = json!(format!("poison {poisoned}"));
    }
    let client = reqwest::Client::new();
    let acked = post(&client, &daemon.url, &records).await.unwrap();
    let good: Vec<String> = acked
        .iter()
        .filter(|id| *id != "r-7" && *id != "r-23")
        .cloned()
        .collect();
    assert_eq!(
        wait_until_stored(&daemon, &good, Duration::from_secs(60)).await,
        0
    );
    assert_eq!(fetch_all(&client, &daemon, "").await.len(), good.len());

    let consumer = dead_letter_reader(&broker, &topic);
    let mut refused = Vec::new();
    while refused.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .expect("dead letters arrive")
            .unwrap();
        let record: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let header = |key: &str| header_of(&message, key);
        assert!(
            header("logstream-error").contains("store refused"),
            "{}",
            header("logstream-error")
        );
        assert!(header("logstream-source").starts_with(&topic));
        refused.push(record["id"].as_str().unwrap().to_string());
    }
    refused.sort();
    assert_eq!(refused, ["r-23", "r-7"]);
    assert_eq!(
        metric(&daemon, "logstream_store_refused_records_total").await,
        2.0
    );
    assert!(metric(&daemon, "logstream_worker_split_batches_total").await >= 1.0);
}
