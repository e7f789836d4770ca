//! The scale-out pipeline's front half: the API produces each record to a
//! Kafka topic and answers 202 only once Kafka has acknowledged all of them
//! (acks=all, idempotent producer). Workers (`worker.rs`) move them on into
//! the store.
//!
//! On the wire a record is one message: its JSON, exactly as the API returns
//! it, so any Kafka consumer can read the topic. The message key is the
//! service name, so one service's records stay in order on one partition
//! while services spread over the partitions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use logstream_shared::{LogRecord, validate};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedHeaders, Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use super::{IdempotencyKey, PendingLimit, Sink, SinkError, Submitted, Turn};

/// The seed's topic.
pub const DEFAULT_TOPIC: &str = "app-logs";

/// The largest record payload produced: under Kafka's default limit on a
/// message (`message.max.bytes`, 1,000,000 bytes with its framing).
pub const MAX_MESSAGE_BYTES: usize = 900_000;

/// Where records go: `kafka://HOST:PORT[,HOST:PORT…][/TOPIC]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTarget {
    /// Comma-separated bootstrap servers.
    pub brokers: String,
    pub topic: String,
}

impl std::str::FromStr for KafkaTarget {
    type Err = String;

    fn from_str(url: &str) -> Result<KafkaTarget, String> {
        let rest = url.strip_prefix("kafka://").ok_or_else(|| {
            format!("\"{url}\" is not a Kafka URL; expected kafka://HOST:PORT/TOPIC, for example kafka://localhost:9092/{DEFAULT_TOPIC}")
        })?;
        let (brokers, topic) = rest.split_once('/').unwrap_or((rest, ""));
        if brokers.is_empty() {
            return Err(format!(
                "\"{url}\" names no broker; expected kafka://HOST:PORT/TOPIC"
            ));
        }
        let topic = if topic.is_empty() {
            DEFAULT_TOPIC
        } else {
            topic
        };
        // Kafka's own rule for topic names.
        if topic.len() > 249
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!(
                "topic \"{topic}\": use at most 249 letters, digits, '.', '_' and '-'"
            ));
        }
        Ok(KafkaTarget {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
        })
    }
}

/// Settings for a Kafka client of the daemon: the brokers, the client's own
/// `defaults`, then the user's `--kafka-option`s (security, SASL, tuning),
/// which win.
pub(crate) fn client_config(
    brokers: &str,
    options: &[(String, String)],
    defaults: &[(&str, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "logstreamd");
    for (key, value) in defaults {
        config.set(*key, value);
    }
    for (key, value) in options {
        config.set(key, value);
    }
    config
}

/// A producer that never acknowledges what Kafka could still lose: every
/// in-sync replica has the message (acks=all) and retries cannot duplicate
/// or reorder it (idempotence). `delivery_timeout` bounds how long a message
/// may wait for that before it fails.
pub fn producer(
    brokers: &str,
    options: &[(String, String)],
    delivery_timeout: Duration,
) -> Result<FutureProducer, KafkaError> {
    let defaults = [
        ("enable.idempotence", "true".to_string()),
        ("acks", "all".to_string()),
        ("compression.type", "lz4".to_string()),
        // Batches form while earlier ones are in flight; a few ms more per
        // request buys far fewer, larger produce requests.
        ("linger.ms", "5".to_string()),
        ("queue.buffering.max.messages", "1000000".to_string()),
        (
            "message.timeout.ms",
            delivery_timeout.as_millis().max(1).to_string(),
        ),
    ];
    client_config(brokers, options, &defaults).create()
}

/// Creates the topics that do not exist yet, with `partitions` partitions
/// and the broker's default replication factor.
pub(crate) async fn ensure_topics(
    brokers: &str,
    options: &[(String, String)],
    topics: &[&str],
    partitions: i32,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, options, &[])
        .create()
        .map_err(|e| e.to_string())?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(-1)))
        .collect();
    // Without a request timeout an unreachable broker is waited for as
    // long as librdkafka's socket timeout (a minute).
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(|e| format!("cannot reach Kafka at {brokers}: {e}"))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions, "created Kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("cannot create topic {topic}: {code}")),
        }
    }
    Ok(())
}

/// A record as a Kafka message payload: the API's JSON form.
pub fn encode(record: &LogRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("a LogRecord always serializes")
}

/// A message payload back to a record, or why it is not one.
pub fn decode(payload: Option<&[u8]>) -> Result<LogRecord, String> {
    let payload = payload.ok_or("the message has no payload")?;
    let record: LogRecord =
        serde_json::from_slice(payload).map_err(|e| format!("not a LogStream record: {e}"))?;
    let problems = validate(&record);
    if problems.is_empty() {
        Ok(record)
    } else {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Err(format!("invalid record: {}", problems.join("; ")))
    }
}

/// Where a record of a request sent with an `Idempotency-Key` came from:
/// the key, the digest of the request's body and the record's place in it.
/// It travels in the record's message headers, so that workers store one
/// copy of a request sent again. Records of one request spread over
/// partitions and batches, so each record is remembered on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestMark {
    pub key: String,
    pub fingerprint: String,
    pub index: usize,
}

const KEY_HEADER: &str = "logstream-idempotency-key";
const FINGERPRINT_HEADER: &str = "logstream-request-digest";
const INDEX_HEADER: &str = "logstream-request-index";

impl RequestMark {
    fn headers(&self) -> OwnedHeaders {
        let index = self.index.to_string();
        [
            (KEY_HEADER, self.key.as_str()),
            (FINGERPRINT_HEADER, self.fingerprint.as_str()),
            (INDEX_HEADER, index.as_str()),
        ]
        .into_iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value),
            })
        })
    }

    /// The mark a message carries, if it has all of it.
    pub(crate) fn of(headers: Option<&BorrowedHeaders>) -> Option<RequestMark> {
        let headers = headers?;
        let value = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| std::str::from_utf8(h.value?).ok())
        };
        Some(RequestMark {
            key: value(KEY_HEADER)?.to_string(),
            fingerprint: value(FINGERPRINT_HEADER)?.to_string(),
            index: value(INDEX_HEADER)?.parse().ok()?,
        })
    }

    /// The key the store remembers for this one record. The digest is part
    /// of it: a key reused for another body names other records, which
    /// the API acknowledged and so are stored too. A header value holds no
    /// newline, so the parts cannot run into each other.
    pub(crate) fn stored_key(&self, record_id: &str) -> IdempotencyKey {
        IdempotencyKey {
            key: format!("{}\n{}\n{}", self.key, self.fingerprint, self.index),
            fingerprint: self.fingerprint.clone(),
            ids: vec![record_id.to_string()],
        }
    }
}

#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    pub target: KafkaTarget,
    /// Extra librdkafka settings (`--kafka-option KEY=VALUE`).
    pub options: Vec<(String, String)>,
    /// Partitions of the topic when the daemon creates it.
    pub partitions: i32,
    /// How long Kafka may take to acknowledge a record before the request is
    /// answered 503.
    pub delivery_timeout: Duration,
    /// Records produced but not yet acknowledged, at most (429 past it).
    pub max_pending_records: usize,
}

pub struct KafkaSink {
    producer: Mutex<CurrentProducer>,
    config: KafkaSinkConfig,
    pending: PendingLimit,
    closed: AtomicBool,
}

/// The current producer, and which one it is: after a failed delivery it is
/// replaced by a new one (see `replace_failed`).
struct CurrentProducer {
    generation: u64,
    producer: FutureProducer,
    created: Instant,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.config.target.topic)
            .finish_non_exhaustive()
    }
}

/// Connects the producer and has it learn the topic's partitions before
/// the first request does (that first request waited about a second).
/// A failure here is only logged: the producer keeps trying by itself.
async fn warm_up(producer: &FutureProducer, topic: &str) {
    let (producer, topic) = (producer.clone(), topic.to_string());
    let fetched = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .map(|_| ())
    })
    .await;
    if let Ok(Err(e)) = fetched {
        tracing::warn!(error = %e, "the Kafka producer could not connect yet; it keeps trying");
    }
}

impl KafkaSink {
    /// Connects, creating the topic if it is missing. Fails if the brokers
    /// cannot be reached, so a misconfigured daemon does not start.
    pub async fn start(config: KafkaSinkConfig) -> Result<KafkaSink, String> {
        let KafkaSinkConfig {
            target, options, ..
        } = &config;
        ensure_topics(
            &target.brokers,
            options,
            &[&target.topic],
            config.partitions,
        )
        .await?;
        let producer = CurrentProducer {
            generation: 0,
            producer: Self::new_producer(&config)?,
            created: Instant::now(),
        };
        warm_up(&producer.producer, &target.topic).await;
        Ok(KafkaSink {
            producer: Mutex::new(producer),
            pending: PendingLimit::new(config.max_pending_records),
            closed: AtomicBool::new(false),
            config,
        })
    }

    fn new_producer(config: &KafkaSinkConfig) -> Result<FutureProducer, String> {
        producer(
            &config.target.brokers,
            &config.options,
            config.delivery_timeout,
        )
        .map_err(|e| format!("cannot create a Kafka producer: {e}"))
    }

    fn current(&self) -> MutexGuard<'_, CurrentProducer> {
        self.producer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After deliveries failed (the brokers were away past the deadline), a
    /// fresh producer takes over: an idempotent producer can be left with
    /// sequence state that a restarted broker no longer knows, and would then
    /// time out forever. At most once per delivery timeout.
    fn replace_failed(&self, generation: u64) {
        let mut current = self.current();
        if current.generation != generation
            || current.created.elapsed() < self.config.delivery_timeout
        {
            return;
        }
        match Self::new_producer(&self.config) {
            Ok(producer) => {
                tracing::warn!("Kafka deliveries failed; starting a new producer");
                *current = CurrentProducer {
                    generation: generation + 1,
                    producer,
                    created: Instant::now(),
                };
            }
            Err(e) => tracing::error!(error = %e, "cannot replace the Kafka producer"),
        }
    }
}

#[async_trait]
impl Sink for KafkaSink {
    /// A request with an idempotency key is produced again when it is sent
    /// again: whether its first copy was stored is for the workers to find
    /// out, later. Each record carries its `RequestMark`, and the workers
    /// store one copy.
    async fn submit(
        &self,
        records: Vec<LogRecord>,
        key: Option<IdempotencyKey>,
        turn: Turn,
    ) -> Result<Submitted, SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::Closed);
        }
        let _permit = self.pending.admit(records.len())?;
        let (generation, producer) = {
            let current = self.current();
            (current.generation, current.producer.clone())
        };
        let topic = &self.config.target.topic;
        // All checked before any is sent: a request is produced whole or not at all.
        let payloads: Vec<Vec<u8>> = records.iter().map(encode).collect();
        if let Some((index, payload)) = payloads
            .iter()
            .enumerate()
            .find(|(_, p)| p.len() > MAX_MESSAGE_BYTES)
        {
            return Err(SinkError::RecordTooLarge {
                index,
                bytes: payload.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let mut deliveries = Vec::with_capacity(records.len());
        for (index, (record, payload)) in records.iter().zip(&payloads).enumerate() {
            let mut message = FutureRecord::to(topic)
                .key(record.service.as_bytes())
                .payload(payload);
            if let Some(key) = &key {
                let mark = RequestMark {
                    key: key.key.clone(),
                    fingerprint: key.fingerprint.clone(),
                    index,
                };
                message = message.headers(mark.headers());
            }
            match producer.send_result(message) {
                Ok(delivery) => deliveries.push(delivery),
                // librdkafka's own queue is full: Kafka is slower than ingest.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(SinkError::Full {
                        pending: records.len(),
                        retry_after: Duration::from_secs(1),
                    });
                }
                Err((e, _)) => return Err(SinkError::Unavailable(format!("Kafka: {e}"))),
            }
        }
        // The producer keeps a partition's messages in the order they were sent.
        drop(turn);
        // Every record must be acknowledged. If some are not, the request is
        // answered 503 and its retry may store the acknowledged ones twice:
        // a duplicate, never a loss.
        for delivery in join_all(deliveries).await {
            match delivery {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    self.replace_failed(generation);
                    return Err(SinkError::Unavailable(format!(
                        "Kafka did not acknowledge the records: {e}"
                    )));
                }
                Err(_) => return Err(SinkError::Unavailable("Kafka producer stopped".into())),
            }
        }
        Ok(Submitted::Stored)
    }

    async fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        // Requests in flight await their own deliveries; this only makes
        // sure nothing stays buffered in the producer.
        let producer = self.current().producer.clone();
        let flushed =
            tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(30))).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "Kafka producer did not flush");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_brokers_and_topic() {
        let target: KafkaTarget = "kafka://a:9092,b:9092/logs.v1".parse().unwrap();
        assert_eq!(target.brokers, "a:9092,b:9092");
        assert_eq!(target.topic, "logs.v1");
        let target: KafkaTarget = "kafka://localhost:9092".parse().unwrap();
        assert_eq!(target.topic, DEFAULT_TOPIC);
        assert!("localhost:9092".parse::<KafkaTarget>().is_err());
        assert!("kafka:///app-logs".parse::<KafkaTarget>().is_err());
        assert!("kafka://h:1/bad topic".parse::<KafkaTarget>().is_err());
    }

    #[test]
    fn payloads_round_trip_and_bad_ones_say_why() {
        let record = LogRecord {
            id: "x".into(),
            timestamp: chrono::Utc::now(),
            service: "api".into(),
            level: logstream_shared::Level::Warn,
            message: "hello".into(),
            host: Some("h".into()),
            trace_id: None,
            span_id: None,
            attributes: [("k".to_string(), "v".to_string())].into(),
        };
        assert_eq!(decode(Some(&encode(&record))), Ok(record));
        assert!(decode(None).unwrap_err().contains("no payload"));
        assert!(
            decode(Some(b"{"))
                .unwrap_err()
                .contains("not a LogStream record")
        );
        let empty_service = br#"{"id":"x","timestamp":"2024-01-01T00:00:00Z","service":"","level":"INFO","message":"m"}"#;
        assert!(decode(Some(empty_service)).unwrap_err().contains("service"));
    }
}
