//! The live tail in Kafka mode: each client gets a consumer of its own,
//! assigned every partition of the topic (no consumer group, nothing
//! committed), so records show as soon as Kafka has them, before any
//! worker stores them.
//!
//! The cursor is the next offset of every partition, so resuming is exact
//! across partitions. A slow client simply reads later: Kafka keeps the
//! records, the daemon buffers at most `CLIENT_BUFFER` of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use logstream_shared::Query;
use prometheus_client::metrics::gauge::Gauge;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use self::shared::SharedFeed;
use tokio_stream::wrappers::ReceiverStream;

use super::{CLIENT_BUFFER, Tail, TailError, TailItem, TailStart};
use crate::ingest::KafkaTarget;
use crate::ingest::kafka::{client_config, decode};
use crate::store::Selection;

mod shared;

/// The live tail in Kafka mode. Subscribers that follow from now on share
/// one consumer (see [`shared`]); one that resumes after a cursor or starts
/// at `since` reads with a consumer of its own. Both are bounded.
#[derive(Debug, Clone)]
pub struct KafkaTail {
    target: KafkaTarget,
    options: Vec<(String, String)>,
    feed: Arc<SharedFeed>,
    limits: TailLimits,
    subscribers: Arc<Semaphore>,
    consumers: Arc<Semaphore>,
    gauges: TailGauges,
}

/// How many subscribers the tail serves at once, and how many of them may
/// read with a consumer of their own.
#[derive(Debug, Clone, Copy)]
pub struct TailLimits {
    pub subscribers: usize,
    pub consumers: usize,
}

/// What `/metrics` reports of the tail.
#[derive(Debug, Clone, Default)]
pub struct TailGauges {
    pub subscribers: Gauge,
    pub consumers: Gauge,
}

impl KafkaTail {
    pub fn new(
        target: KafkaTarget,
        options: Vec<(String, String)>,
        limits: TailLimits,
        gauges: TailGauges,
    ) -> KafkaTail {
        KafkaTail {
            target,
            options,
            feed: Arc::default(),
            subscribers: Arc::new(Semaphore::new(limits.subscribers)),
            consumers: Arc::new(Semaphore::new(limits.consumers)),
            limits,
            gauges,
        }
    }

    /// A place among the subscribers, counted while it is held.
    fn subscriber_place(&self) -> Result<Place, TailError> {
        let permit = Arc::clone(&self.subscribers)
            .try_acquire_owned()
            .map_err(|_| {
                TailError::Busy(format!(
                    "the live tail serves {} subscribers already (--max-tail-subscribers)",
                    self.limits.subscribers
                ))
            })?;
        Ok(Place::counted(permit, &self.gauges.subscribers))
    }

    /// A place among the subscribers with a consumer of their own.
    fn consumer_place(&self) -> Result<Place, TailError> {
        let permit = Arc::clone(&self.consumers).try_acquire_owned().map_err(|_| {
            TailError::Busy(format!(
                "{} live-tail subscribers read from a cursor or a since already (--max-tail-consumers)",
                self.limits.consumers
            ))
        })?;
        Ok(Place::counted(permit, &self.gauges.consumers))
    }
}

/// A held place: a permit, and a gauge counting it.
struct Place {
    _permit: OwnedSemaphorePermit,
    gauge: Gauge,
}

impl Place {
    fn counted(permit: OwnedSemaphorePermit, gauge: &Gauge) -> Place {
        gauge.inc();
        Place {
            _permit: permit,
            gauge: gauge.clone(),
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Closes a consumer. That blocks (librdkafka leaves the group and joins its
/// threads): off the runtime, so that requests are not held up by
/// subscribers going away.
async fn close(consumer: StreamConsumer) {
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

/// Next offset per partition.
type Positions = BTreeMap<i32, i64>;

fn cursor(positions: &Positions) -> String {
    let parts: Vec<String> = positions.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    format!("k{}", parts.join(","))
}

fn parse_cursor(text: &str) -> Option<Positions> {
    let body = text.strip_prefix('k')?;
    if body.is_empty() {
        return Some(Positions::new());
    }
    body.split(',')
        .map(|part| {
            let (partition, offset) = part.split_once(':')?;
            let offset: i64 = offset.parse().ok()?;
            Some((partition.parse().ok()?, offset)).filter(|_| offset >= 0)
        })
        .collect()
}

/// How long the tail waits for metadata, watermarks and offset look-ups.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

fn unavailable(e: KafkaError) -> TailError {
    TailError::Unavailable(format!("Kafka: {e}"))
}

impl KafkaTail {
    /// A consumer positioned where the tail starts, and those positions.
    fn consumer_at(&self, start: &TailStart) -> Result<(StreamConsumer, Positions), TailError> {
        let defaults = [
            // Required by librdkafka, unused: partitions are assigned by hand
            // and nothing is committed.
            ("group.id", "logstream-tail".to_string()),
            ("enable.auto.commit", "false".to_string()),
            ("auto.offset.reset", "earliest".to_string()),
        ];
        let consumer: StreamConsumer =
            client_config(&self.target.brokers, &self.options, &defaults)
                .create()
                .map_err(unavailable)?;
        let topic = Topic {
            tail: self,
            consumer: &consumer,
            name: &self.target.topic,
        };
        let positions = topic.start_positions(start)?;
        let mut assignment = TopicPartitionList::new();
        for (&partition, &offset) in &positions {
            assignment
                .add_partition_offset(topic.name, partition, Offset::Offset(offset))
                .map_err(unavailable)?;
        }
        consumer.assign(&assignment).map_err(unavailable)?;
        Ok((consumer, positions))
    }
}

/// The tail's topic, looked up through its consumer (blocking calls).
struct Topic<'a> {
    tail: &'a KafkaTail,
    consumer: &'a StreamConsumer,
    name: &'a str,
}

impl Topic<'_> {
    /// Where each partition is read from for a tail that starts at `start`.
    fn start_positions(&self, start: &TailStart) -> Result<Positions, TailError> {
        let partitions = self.partitions()?;
        match start {
            TailStart::Now => partitions
                .iter()
                .map(|&p| Ok((p, self.end_offset(p)?)))
                .collect(),
            TailStart::Since(since) => self.offsets_since(&partitions, *since),
            TailStart::After { cursor, since } => {
                let resumed = self.resumed_positions(&partitions, cursor)?;
                // A partition the cursor does not name (one added since) is
                // read from where `since` starts in it, else from its start.
                let unnamed: Vec<i32> = partitions
                    .into_iter()
                    .filter(|p| !resumed.contains_key(p))
                    .collect();
                let mut positions = match since {
                    Some(since) if !unnamed.is_empty() => self.offsets_since(&unnamed, *since)?,
                    _ => unnamed.iter().map(|&p| (p, 0)).collect(),
                };
                positions.extend(resumed);
                Ok(positions)
            }
        }
    }

    fn partitions(&self) -> Result<Vec<i32>, TailError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(self.name), LOOKUP_TIMEOUT)
            .map_err(unavailable)?;
        Ok(metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }

    /// The offset the next message of `partition` will get.
    fn end_offset(&self, partition: i32) -> Result<i64, TailError> {
        let (_, high) = self
            .consumer
            .fetch_watermarks(self.name, partition, LOOKUP_TIMEOUT)
            .map_err(unavailable)?;
        Ok(high)
    }

    /// Per partition, the first message Kafka timestamped at or after
    /// `since_ns` (the end where there is none), so that a tail with
    /// `since` does not read the whole topic to skip the older part. Kafka's
    /// timestamp is when the API produced the message; the tail still
    /// selects by the record's own time.
    fn offsets_since(&self, partitions: &[i32], since_ns: i64) -> Result<Positions, TailError> {
        let mut times = TopicPartitionList::new();
        for &partition in partitions {
            times
                .add_partition_offset(
                    self.name,
                    partition,
                    Offset::Offset(since_ns.div_euclid(1_000_000)),
                )
                .map_err(unavailable)?;
        }
        let found = self
            .consumer
            .offsets_for_times(times, LOOKUP_TIMEOUT)
            .map_err(unavailable)?;
        found
            .elements_for_topic(self.name)
            .iter()
            .map(|element| {
                let offset = match element.offset() {
                    Offset::Offset(offset) => offset,
                    // Nothing produced that late yet.
                    _ => self.end_offset(element.partition())?,
                };
                Ok((element.partition(), offset))
            })
            .collect()
    }

    /// The positions a cursor names. One that names a partition the topic
    /// lacks, or an offset past a partition's end, was not given out for
    /// this topic (another topic's, or this one's before it was made anew):
    /// it is refused, because librdkafka would answer such an offset by
    /// reading the partition again from its start.
    fn resumed_positions(&self, partitions: &[i32], text: &str) -> Result<Positions, TailError> {
        let bad = || TailError::BadCursor(text.to_string());
        let positions = parse_cursor(text).ok_or_else(bad)?;
        for (&partition, &offset) in &positions {
            let within = partitions.contains(&partition)
                && (offset <= self.end_offset(partition)? || self.holds(partition, offset - 1)?);
            if !within {
                return Err(bad());
            }
        }
        Ok(positions)
    }

    /// Whether `partition` has a message at `offset`, by reading it. Asked
    /// only when the broker says the partition ends before: some
    /// Kafka-compatible brokers (tansu 0.6) report the end as the first
    /// offset of the last batch plus one.
    fn holds(&self, partition: i32, offset: i64) -> Result<bool, TailError> {
        let defaults = [
            ("group.id", "logstream-tail".to_string()),
            ("enable.auto.commit", "false".to_string()),
            // An offset past the end is an error, not a read from the start.
            ("auto.offset.reset", "error".to_string()),
        ];
        let probe: BaseConsumer =
            client_config(&self.tail.target.brokers, &self.tail.options, &defaults)
                .create()
                .map_err(unavailable)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(self.name, partition, Offset::Offset(offset))
            .map_err(unavailable)?;
        probe.assign(&assignment).map_err(unavailable)?;
        let deadline = std::time::Instant::now() + LOOKUP_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match probe.poll(left) {
                Some(Ok(message)) => return Ok(message.offset() == offset),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, partition, offset, "live tail: no message at the cursor");
                    return Ok(false);
                }
                None => {}
            }
        }
        Ok(false)
    }
}

#[async_trait]
impl Tail for KafkaTail {
    async fn follow(
        &self,
        query: Query,
        start: TailStart,
    ) -> Result<BoxStream<'static, TailItem>, TailError> {
        let subscriber = self.subscriber_place()?;
        let selection = Selection {
            query,
            since_ns: start.since_ns(),
            until_ns: None,
        };
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        if start == TailStart::Now {
            let joined = self.feed.join(self).await?;
            tokio::spawn(async move {
                shared::follow(joined, selection, tx).await;
                drop(subscriber);
            });
            return Ok(ReceiverStream::new(rx).boxed());
        }
        let own = self.consumer_place()?;
        let tail = self.clone();
        // Metadata and watermarks are blocking calls.
        let positioned = tokio::task::spawn_blocking(move || tail.consumer_at(&start))
            .await
            .map_err(|e| TailError::Unavailable(e.to_string()))??;
        tokio::spawn(async move {
            close(feed(positioned, selection, tx).await).await;
            drop((own, subscriber));
        });
        Ok(ReceiverStream::new(rx).boxed())
    }
}

/// Sends the selected records to `tx` until its receiver goes away; then
/// hands back the consumer, to be closed.
async fn feed(
    (consumer, mut positions): (StreamConsumer, Positions),
    selection: Selection,
    tx: mpsc::Sender<TailItem>,
) -> StreamConsumer {
    let matcher = selection.matcher();
    loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            () = tx.closed() => return consumer,
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::debug!(error = %e, "live tail: Kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        positions.insert(message.partition(), message.offset() + 1);
        // Undecodable messages are the workers' to dead-letter; the tail skips them.
        let Ok(record) = decode(message.payload()) else {
            continue;
        };
        if matcher.matches(&record) {
            let item = TailItem::Record {
                cursor: cursor(&positions),
                record,
            };
            if tx.send(item).await.is_err() {
                return consumer;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let positions: Positions = [(0, 12), (1, 0), (2, 7)].into();
        assert_eq!(cursor(&positions), "k0:12,1:0,2:7");
        assert_eq!(parse_cursor(&cursor(&positions)), Some(positions));
        assert_eq!(parse_cursor("k"), Some(Positions::new()));
        assert_eq!(parse_cursor("e12"), None);
        assert_eq!(parse_cursor("k0:-1"), None);
        assert_eq!(parse_cursor("k0=1"), None);
    }
}
