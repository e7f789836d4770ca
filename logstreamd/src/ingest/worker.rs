//! The scale-out pipeline's back half: a consumer-group member that moves
//! records from the Kafka topic into the store in large batches.
//!
//! Offsets are committed only after the store has the batch, so a crash
//! anywhere before that replays the batch (a bounded duplicate, never a
//! loss). Store failures are retried with backoff while nothing is committed.
//! A message that is not a valid record goes to the dead-letter topic with
//! the reason, and only then counts as handled; so does a record the store
//! refuses on its own, found by splitting a batch the store keeps refusing
//! while healthy (one bad record must not hold its partitions forever).
//! Workers of one group share the topic's partitions, so adding workers
//! adds throughput.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstream_shared::LogRecord;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::health::{WorkerHealth, WorkerStatus};
use super::kafka::{self, KafkaTarget, RequestMark, client_config, decode};
use crate::metrics::Metrics;
use crate::store::{IdempotencyKey, Store, StoreError};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub target: KafkaTarget,
    /// Extra librdkafka settings (`--kafka-option KEY=VALUE`).
    pub options: Vec<(String, String)>,
    /// Consumer group: workers with the same group share the partitions.
    pub group: String,
    /// Where undecodable messages go.
    pub dead_letter_topic: String,
    /// Partitions of topics the worker creates.
    pub partitions: i32,
    /// A batch is stored once it has this many records…
    pub batch_records: usize,
    /// …or this many payload bytes…
    pub batch_bytes: usize,
    /// …or its first message has waited this long.
    pub batch_wait: Duration,
}

/// Logs rebalances (commits check the assignment itself, see `commit`).
/// The consumer's context: logs rebalances, and tells the worker's health
/// whether any broker is reachable, from librdkafka's statistics.
struct RebalanceWatch {
    health: WorkerHealth,
    brokers: String,
}

impl ClientContext for RebalanceWatch {
    fn stats(&self, statistics: Statistics) {
        // Real brokers and the bootstrap entries; "UP" is a live connection.
        let reachable = statistics
            .brokers
            .values()
            .filter(|b| b.source != "internal" && b.source != "logical")
            .any(|b| b.state == "UP");
        self.health.brokers_reachable(reachable, &self.brokers);
    }
}

impl ConsumerContext for RebalanceWatch {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(count = partitions.count(), "partitions revoked")
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(count = partitions.count(), "partitions assigned")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}

/// A message that is not a record, on its way to the dead-letter topic.
#[derive(Clone)]
struct DeadLetter {
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    reason: String,
    source: String,
    /// The payload's length before it was cut to fit the dead-letter topic.
    cut_from: Option<usize>,
}

/// The most of a message's key and payload a dead letter carries: with its
/// headers it stays under Kafka's default message limit (1,000,000 bytes),
/// which a message of the topic may fill to the last byte. What is longer
/// is cut, and the header `logstream-truncated` gives the original length,
/// so that no message can block its partition by being too large to
/// dead-letter.
const MAX_DEAD_LETTER_BYTES: usize = kafka::MAX_MESSAGE_BYTES;
/// What a dead letter is cut to when the broker refuses even that (a topic
/// with a smaller `max.message.bytes`).
const SMALL_DEAD_LETTER_BYTES: usize = 64 * 1024;

impl DeadLetter {
    /// The letter with its key and payload cut to `max` bytes together.
    fn cut(mut self, max: usize) -> DeadLetter {
        if let Some(key) = &mut self.key {
            key.truncate(max / 16);
        }
        let room = max - self.key.as_ref().map_or(0, Vec::len);
        if let Some(payload) = &mut self.payload
            && payload.len() > room
        {
            self.cut_from.get_or_insert(payload.len());
            payload.truncate(room);
        }
        self
    }
}

#[derive(Default)]
struct Batch {
    /// Messages read and not yet handed to a decoding task.
    read: Vec<ReadMessage>,
    /// Decoding tasks of the earlier runs of messages, in reading order:
    /// decoding runs beside the gathering, on the blocking pool.
    decoding: Vec<JoinHandle<Decoded>>,
    /// Messages read, decoded or not.
    messages: usize,
    /// Whether any of them came from a request with an idempotency key.
    keyed: bool,
    decoded: Decoded,
    /// Records left out once stored: the store had them from an earlier
    /// copy of their request.
    copies: usize,
    bytes: usize,
    /// The next offset to read, per partition: what gets committed.
    next_offsets: BTreeMap<i32, i64>,
    started: Option<Instant>,
}

/// Messages handed to one decoding task.
const DECODE_RUN: usize = 1000;

/// A message as read, owned.
struct ReadMessage {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    mark: Option<RequestMark>,
}

/// Records decoded from messages, and dead letters for the messages that
/// are not valid records.
#[derive(Default)]
struct Decoded {
    records: Vec<LogRecord>,
    /// Where each of `records` came from, in the same order.
    origins: Vec<Origin>,
    dead_letters: Vec<DeadLetter>,
}

/// A record's message, and its key if it came from a request with an
/// `Idempotency-Key`.
struct Origin {
    partition: i32,
    offset: i64,
    key: Option<IdempotencyKey>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// Adds a message read from `topic`, handing each full run of them to
    /// a decoding task.
    fn push(&mut self, message: ReadMessage, topic: &str) {
        self.messages += 1;
        self.keyed |= message.mark.is_some();
        self.read.push(message);
        if self.read.len() >= DECODE_RUN {
            let run = std::mem::take(&mut self.read);
            let topic = topic.to_string();
            self.decoding.push(tokio::task::spawn_blocking(move || {
                Decoded::of(run, &topic)
            }));
        }
    }

    /// Waits for the decoding tasks and decodes the rest, in reading order.
    async fn finish_decoding(&mut self, topic: &str) {
        for task in std::mem::take(&mut self.decoding) {
            let run = task.await.expect("decoding messages does not panic");
            self.decoded.append(run);
        }
        let rest = Decoded::of(std::mem::take(&mut self.read), topic);
        self.decoded.append(rest);
    }
}

impl Decoded {
    fn of(messages: Vec<ReadMessage>, topic: &str) -> Decoded {
        let mut decoded = Decoded::default();
        for message in messages {
            match decode(message.payload.as_deref()) {
                Ok(record) => {
                    decoded.origins.push(Origin {
                        partition: message.partition,
                        offset: message.offset,
                        key: message.mark.map(|mark| mark.stored_key(&record.id)),
                    });
                    decoded.records.push(record);
                }
                Err(reason) => decoded.dead_letters.push(
                    DeadLetter {
                        key: message.key,
                        payload: message.payload,
                        source: format!("{topic}/{}/{}", message.partition, message.offset),
                        reason,
                        cut_from: None,
                    }
                    .cut(MAX_DEAD_LETTER_BYTES),
                ),
            }
        }
        decoded
    }

    fn append(&mut self, mut other: Decoded) {
        self.records.append(&mut other.records);
        self.origins.append(&mut other.origins);
        self.dead_letters.append(&mut other.dead_letters);
    }
}

/// Why a batch was closed.
enum Closed {
    Full,
    Waited,
    Stopping,
}

/// Runs the worker until `stop` counts a signal; when it fails (its topics
/// cannot be checked because Kafka is not up yet, a consumer cannot be
/// made), it is started again after a backoff of 1 s doubling to 30 s, and
/// `health` says why meanwhile.
pub async fn supervise(
    store: Arc<dyn Store>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<u32>,
    health: WorkerHealth,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        health.set(WorkerStatus::Starting);
        let ran = run(
            Arc::clone(&store),
            config.clone(),
            Arc::clone(&metrics),
            stop.clone(),
            health.clone(),
        )
        .await;
        let Err(e) = ran else { return };
        tracing::error!(error = %e, retry_in = ?backoff, "worker failed; starting it again");
        health.set(WorkerStatus::Restarting(e));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|n| *n >= 1) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Runs until `stop` counts a signal, then stores and commits what it holds.
async fn run(
    store: Arc<dyn Store>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<u32>,
    health: WorkerHealth,
) -> Result<(), String> {
    let WorkerConfig {
        target, options, ..
    } = &config;
    kafka::ensure_topics(
        &target.brokers,
        options,
        &[&target.topic, &config.dead_letter_topic],
        config.partitions,
    )
    .await?;
    let defaults = [
        ("group.id", config.group.clone()),
        // Offsets are committed by hand, after the store has the batch.
        ("enable.auto.commit", "false".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
        // Feeds `RebalanceWatch::stats`: the health's view of the brokers.
        ("statistics.interval.ms", "1000".to_string()),
        // Once librdkafka's prefetch queue is full it fetches again only
        // after this long (1 s by default): a worker that drains the queue
        // within a batch then waits for the broker. With 1 s one worker
        // read 150-175k records/s here, with 20 ms 250k.
        ("fetch.queue.backoff.ms", "20".to_string()),
    ];
    let context = RebalanceWatch {
        health: health.clone(),
        brokers: target.brokers.clone(),
    };
    let consumer: StreamConsumer<RebalanceWatch> =
        client_config(&target.brokers, options, &defaults)
            .create_with_context(context)
            .map_err(|e| format!("cannot create a Kafka consumer: {e}"))?;
    consumer
        .subscribe(&[&target.topic])
        .map_err(|e| format!("cannot subscribe to {}: {e}", target.topic))?;
    let dead_letters = DeadLetterProducer::new(target.brokers.clone(), options.clone())
        .map_err(|e| format!("cannot create the dead-letter producer: {e}"))?;
    tracing::info!(topic = %target.topic, group = %config.group, "worker started");
    health.set(WorkerStatus::Consuming);

    // While batches are being stored, the next one gathers; offsets are
    // committed in batch order.
    let mut in_flight = InFlight::default();
    let topic = &config.target.topic;
    loop {
        let (batch, closed) = gather(&consumer, &config, &mut in_flight, &metrics, &mut stop).await;
        while in_flight.must_wait(&batch) {
            finish(in_flight.oldest().await, &consumer, topic, &metrics);
        }
        if !batch.is_empty() {
            let storage = Storage {
                store: Arc::clone(&store),
                topic: topic.clone(),
                dead_letters: Arc::clone(&dead_letters),
                dead_letter_topic: config.dead_letter_topic.clone(),
                metrics: Arc::clone(&metrics),
                stop: stop.clone(),
            };
            in_flight
                .batches
                .push_back(tokio::spawn(storage.store(batch)));
        }
        if matches!(closed, Closed::Stopping) {
            while !in_flight.batches.is_empty() {
                finish(in_flight.oldest().await, &consumer, topic, &metrics);
            }
            tracing::info!("worker stopped");
            return Ok(());
        }
    }
}

/// Batches stored at once. Two keep ClickHouse busy while one waits on its
/// answer (one worker: 0.79-1.0x of plain bulk inserts, against 0.61-0.75x
/// with one); each is a batch more in memory.
const STORING_BATCHES: usize = 2;

/// The batches being stored, oldest first.
#[derive(Default)]
struct InFlight {
    batches: VecDeque<JoinHandle<(Batch, bool)>>,
}

impl InFlight {
    /// Whether `batch` must wait for the oldest batch before it is stored:
    /// there is no room, or it holds records of requests sent with an
    /// idempotency key, whose copies in an earlier batch it can only
    /// recognise once that batch is stored.
    fn must_wait(&self, batch: &Batch) -> bool {
        self.batches.len() >= STORING_BATCHES || (batch.keyed && !self.batches.is_empty())
    }

    /// The oldest batch, once it is stored. Cancel-safe: the batch stays in
    /// flight unless this returns.
    async fn oldest(&mut self) -> Result<(Batch, bool), tokio::task::JoinError> {
        let oldest = self.batches.front_mut().expect("a batch in flight");
        let stored = oldest.await;
        self.batches.pop_front();
        stored
    }
}

/// Commits a batch once it is stored, and counts it.
fn finish(
    stored: Result<(Batch, bool), tokio::task::JoinError>,
    consumer: &StreamConsumer<RebalanceWatch>,
    topic: &str,
    metrics: &Metrics,
) {
    let (batch, stored) = match stored {
        Ok(done) => done,
        Err(e) => {
            // Nothing committed: the batch is read again.
            tracing::error!(error = %e, "storing a batch failed");
            return;
        }
    };
    if !stored {
        // Stopping while the store is down: nothing is committed, so the
        // batch is read again by whoever owns its partitions next.
        tracing::warn!(
            records = batch.decoded.records.len(),
            "stopping before the batch was stored; it will be read again"
        );
        return;
    }
    commit(consumer, topic, &batch);
    metrics.worker_batches.inc();
    metrics
        .worker_records
        .inc_by((batch.decoded.records.len() - batch.copies) as u64);
    metrics.worker_duplicates.inc_by(batch.copies as u64);
    if let Some(started) = batch.started {
        metrics
            .worker_batch_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    tracing::debug!(
        records = batch.decoded.records.len(),
        bytes = batch.bytes,
        "batch stored and committed"
    );
}

/// Reads messages until the batch is full, has waited long enough, or the
/// worker is asked to stop.
/// A batch being stored meanwhile is committed as soon as it is stored.
async fn gather(
    consumer: &StreamConsumer<RebalanceWatch>,
    config: &WorkerConfig,
    in_flight: &mut InFlight,
    metrics: &Metrics,
    stop: &mut watch::Receiver<u32>,
) -> (Batch, Closed) {
    let mut batch = Batch::default();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() > 0 {
            return (batch, Closed::Stopping);
        }
        let wait = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let message = tokio::select! {
            message = consumer.recv() => message,
            stored = in_flight.oldest(), if !in_flight.batches.is_empty() => {
                finish(stored, consumer, &config.target.topic, metrics);
                continue;
            }
            () = wait => return (batch, Closed::Waited),
            _ = stop.changed() => return (batch, Closed::Stopping),
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                // Broker trouble: librdkafka reconnects by itself.
                tracing::warn!(error = %e, "Kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        metrics.worker_consumed_records.inc();
        if batch.started.is_none() {
            batch.started = Some(Instant::now());
            deadline = Some(tokio::time::Instant::now() + config.batch_wait);
        }
        let payload = message.payload();
        batch.bytes += payload.map_or(0, <[u8]>::len);
        batch
            .next_offsets
            .insert(message.partition(), message.offset() + 1);
        let read = ReadMessage {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: payload.map(<[u8]>::to_vec),
            mark: RequestMark::of(message.headers()),
        };
        batch.push(read, &config.target.topic);
        if batch.messages >= config.batch_records || batch.bytes >= config.batch_bytes {
            return (batch, Closed::Full);
        }
    }
}

/// What storing a batch needs, owned, so that it runs beside the next gather.
/// The producer of dead letters, shared by the batches; replaced by a new
/// one after a failed send, as in `KafkaSink` (an idempotent producer can be
/// left unable to deliver to a restarted broker).
struct DeadLetterProducer {
    brokers: String,
    options: Vec<(String, String)>,
    producer: std::sync::Mutex<FutureProducer>,
}

impl DeadLetterProducer {
    fn new(
        brokers: String,
        options: Vec<(String, String)>,
    ) -> Result<Arc<DeadLetterProducer>, rdkafka::error::KafkaError> {
        let producer = kafka::producer(&brokers, &options, Duration::from_secs(30))?;
        Ok(Arc::new(DeadLetterProducer {
            brokers,
            options,
            producer: std::sync::Mutex::new(producer),
        }))
    }

    fn current(&self) -> FutureProducer {
        self.producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn replace(&self) {
        match kafka::producer(&self.brokers, &self.options, Duration::from_secs(30)) {
            Ok(fresh) => *self.producer.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
            Err(e) => tracing::error!(error = %e, "cannot replace the dead-letter producer"),
        }
    }
}

struct Storage {
    store: Arc<dyn Store>,
    /// The topic the batches are read from.
    topic: String,
    dead_letters: Arc<DeadLetterProducer>,
    dead_letter_topic: String,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<u32>,
}

impl Storage {
    /// Decodes the batch, sends the dead letters and inserts the records,
    /// retrying with backoff until both succeed; false if the worker was
    /// asked to stop first.
    async fn store(mut self, mut batch: Batch) -> (Batch, bool) {
        batch.finish_decoding(&self.topic).await;
        let stored = self.store_batch(&batch).await;
        batch.copies = stored.unwrap_or(0);
        (batch, stored.is_some())
    }

    /// How many records were left out as copies, once stored; `None` if the
    /// worker was asked to stop first.
    async fn store_batch(&mut self, batch: &Batch) -> Option<usize> {
        let mut backoff = Backoff::default();
        for letter in &batch.decoded.dead_letters {
            if !self.send_dead_letter(letter.clone(), &mut backoff).await {
                return None;
            }
            self.metrics.dead_letters.inc();
        }
        // Parts of the batch still to store, the next one last. A part the
        // store keeps refusing is halved, down to the records it refuses
        // on their own, which are dead-lettered.
        let mut parts = vec![(0..batch.decoded.records.len()).collect::<Vec<usize>>()];
        let mut copies = 0;
        while let Some(part) = parts.pop() {
            match self.insert_until_refused(batch, &part).await {
                Attempt::Stored(left_out) => copies += left_out,
                Attempt::Stopped => return None,
                Attempt::Refused(e) if part.len() == 1 => {
                    if !self.dead_letter_refused(batch, part[0], &e).await {
                        return None;
                    }
                }
                Attempt::Refused(e) => {
                    if part.len() == batch.decoded.records.len() {
                        self.metrics.worker_split_batches.inc();
                        tracing::warn!(error = %e, records = part.len(), "the store keeps refusing the batch; splitting it to find the records it refuses");
                    }
                    let (first, second) = part.split_at(part.len() / 2);
                    parts.push(second.to_vec());
                    parts.push(first.to_vec());
                }
            }
        }
        Some(copies)
    }

    /// Inserts the records of `part` (indices into the batch), retrying with
    /// backoff while the store is down; gives up once the store failed
    /// `REFUSALS` times in a row while healthy: it refuses these records.
    async fn insert_until_refused(&mut self, batch: &Batch, part: &[usize]) -> Attempt {
        let mut backoff = Backoff::default();
        let mut refusals = 0;
        loop {
            let error = match self.insert_first_copies(batch, part).await {
                Ok(left_out) => return Attempt::Stored(left_out),
                Err(e) => e,
            };
            self.metrics.store_retries.inc();
            if self.store.health().await.is_ok() {
                refusals += 1;
            } else {
                refusals = 0;
            }
            if refusals >= REFUSALS {
                return Attempt::Refused(error);
            }
            tracing::error!(error = %error, records = part.len(), retry_in = ?backoff.next, "store insert failed; retrying");
            if !backoff.wait(&mut self.stop).await {
                return Attempt::Stopped;
            }
        }
    }

    /// Sends a dead letter, retrying with backoff (and cutting it when the
    /// topic refuses its size); false if the worker was asked to stop first.
    async fn send_dead_letter(&mut self, mut letter: DeadLetter, backoff: &mut Backoff) -> bool {
        loop {
            let producer = self.dead_letters.current();
            match send_dead_letter(&producer, &self.dead_letter_topic, &letter).await {
                Ok(()) => {
                    tracing::warn!(source = %letter.source, reason = %letter.reason, topic = %self.dead_letter_topic, "message sent to the dead-letter topic");
                    return true;
                }
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge))
                    if letter.payload.as_ref().map_or(0, Vec::len) > SMALL_DEAD_LETTER_BYTES =>
                {
                    tracing::warn!(source = %letter.source, "the dead-letter topic refuses the message's size; cutting it");
                    letter = letter.cut(SMALL_DEAD_LETTER_BYTES);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot send to the dead-letter topic; retrying with a new producer");
                    self.dead_letters.replace();
                    if !backoff.wait(&mut self.stop).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Dead-letters a record the store refuses on its own, as its JSON
    /// (the API's form, which it was produced in), with the store's reason.
    async fn dead_letter_refused(
        &mut self,
        batch: &Batch,
        index: usize,
        error: &StoreError,
    ) -> bool {
        let (record, origin) = (&batch.decoded.records[index], &batch.decoded.origins[index]);
        let letter = DeadLetter {
            key: Some(record.service.as_bytes().to_vec()),
            payload: Some(kafka::encode(record)),
            reason: format!("the store refused the record: {error}"),
            source: format!("{}/{}/{}", self.topic, origin.partition, origin.offset),
            cut_from: None,
        }
        .cut(MAX_DEAD_LETTER_BYTES);
        let sent = self.send_dead_letter(letter, &mut Backoff::default()).await;
        if sent {
            self.metrics.store_refused_records.inc();
        }
        sent
    }

    /// Inserts the records of `part` but those the store has from an
    /// earlier copy of their request (or that repeat a record before them),
    /// remembering the keys of the rest in the same insert; returns how
    /// many it left out.
    async fn insert_first_copies(
        &self,
        batch: &Batch,
        part: &[usize],
    ) -> Result<usize, StoreError> {
        let keys: Vec<&IdempotencyKey> = part
            .iter()
            .filter_map(|&i| batch.decoded.origins[i].key.as_ref())
            .collect();
        if keys.is_empty() && part.len() == batch.decoded.records.len() {
            return self.store.insert(&batch.decoded.records).await.map(|()| 0);
        }
        let mut known = HashMap::new();
        // A batch may hold many keys; one look-up each would be slow, one
        // for all a statement too large.
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            let names: Vec<String> = chunk.iter().map(|k| k.key.clone()).collect();
            known.extend(self.store.known_keys(&names).await?);
        }
        let mut seen = HashSet::new();
        let (mut records, mut first_keys, mut left_out) = (Vec::new(), Vec::new(), 0);
        for &i in part {
            match &batch.decoded.origins[i].key {
                Some(key) if known.contains_key(&key.key) || !seen.insert(&key.key) => {
                    left_out += 1;
                }
                key => {
                    records.push(batch.decoded.records[i].clone());
                    first_keys.extend(key.clone());
                }
            }
        }
        self.store.insert_keyed(&records, &first_keys).await?;
        Ok(left_out)
    }
}

/// What became of a part of a batch.
enum Attempt {
    /// Stored, but for this many copies left out.
    Stored(usize),
    /// The store kept refusing it while healthy.
    Refused(StoreError),
    /// The worker was asked to stop.
    Stopped,
}

/// Failures in a row, with the store healthy after each, after which the
/// store counts as refusing the records rather than being down.
const REFUSALS: u32 = 3;

/// Keys looked up in the store at once.
const KEYS_PER_LOOKUP: usize = 1000;

async fn send_dead_letter(
    producer: &FutureProducer,
    topic: &str,
    letter: &DeadLetter,
) -> Result<(), KafkaError> {
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "logstream-error",
            value: Some(letter.reason.as_str()),
        })
        .insert(Header {
            key: "logstream-source",
            value: Some(letter.source.as_str()),
        });
    let cut_from = letter.cut_from.map(|n| n.to_string());
    if let Some(original) = &cut_from {
        headers = headers.insert(Header {
            key: "logstream-truncated",
            value: Some(original.as_str()),
        });
    }
    let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(topic).headers(headers);
    if let Some(key) = &letter.key {
        record = record.key(key);
    }
    if let Some(payload) = &letter.payload {
        record = record.payload(payload);
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map(drop)
        .map_err(|(e, _)| e)
}

/// Commits the batch's offsets for the partitions this member owns now. A
/// partition revoked meanwhile belongs to another member, which reads the
/// batch's part of it again (a duplicate); committing it here could move
/// that member's offset back.
fn commit(consumer: &StreamConsumer<RebalanceWatch>, topic: &str, batch: &Batch) {
    let owned: HashSet<i32> = match consumer.assignment() {
        Ok(assignment) => assignment
            .elements_for_topic(topic)
            .iter()
            .map(|p| p.partition())
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell the assignment; not committing");
            return;
        }
    };
    let mut offsets = TopicPartitionList::new();
    for (&partition, &next) in &batch.next_offsets {
        if !owned.contains(&partition) {
            continue;
        }
        if let Err(e) = offsets.add_partition_offset(topic, partition, Offset::Offset(next)) {
            tracing::error!(error = %e, partition, "bad offset");
        }
    }
    if offsets.count() == 0 {
        return;
    }
    // Stored but not committed means the new owner reads it again: a
    // duplicate of at most this batch, never a loss.
    // Asynchronous: a blocking commit would hold a runtime thread for as
    // long as the broker takes; a later commit supersedes a lost one.
    if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
        tracing::warn!(error = %e, "offset commit failed; the batch may be read again");
    }
}

/// Exponential backoff from 100 ms to 30 s.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            next: Duration::from_millis(100),
        }
    }
}

impl Backoff {
    /// Waits the next delay; false if the worker is asked to stop meanwhile.
    async fn wait(&mut self, stop: &mut watch::Receiver<u32>) -> bool {
        let delay = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(30));
        if *stop.borrow() > 0 {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = stop.changed() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(key: usize, payload: usize) -> DeadLetter {
        DeadLetter {
            key: Some(vec![b'k'; key]),
            payload: Some(vec![b'p'; payload]),
            reason: "not JSON".into(),
            source: "t/0/1".into(),
            cut_from: None,
        }
    }

    #[test]
    fn dead_letters_are_cut_to_fit_and_remember_their_length() {
        let small = letter(10, 100).cut(MAX_DEAD_LETTER_BYTES);
        assert_eq!((small.payload.unwrap().len(), small.cut_from), (100, None));

        let huge = letter(10, 999_900).cut(MAX_DEAD_LETTER_BYTES);
        assert_eq!(
            huge.payload.as_ref().unwrap().len() + 10,
            MAX_DEAD_LETTER_BYTES
        );
        assert_eq!(huge.cut_from, Some(999_900));
        // Cut again, smaller: the original length stays.
        let smaller = huge.cut(SMALL_DEAD_LETTER_BYTES);
        assert_eq!(smaller.payload.unwrap().len() + 10, SMALL_DEAD_LETTER_BYTES);
        assert_eq!(smaller.cut_from, Some(999_900));

        let big_key = letter(1_000_000, 10).cut(MAX_DEAD_LETTER_BYTES);
        assert_eq!(big_key.key.unwrap().len(), MAX_DEAD_LETTER_BYTES / 16);
    }
}
