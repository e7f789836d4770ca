//! The live tail in Kafka mode: each client gets a consumer of its own,
//! assigned every partition of the topic (no consumer group, nothing
//! committed), so records show as soon as Kafka has them, before any
//! worker stores them.
//!
//! The cursor is the next offset of every partition, so resuming is exact
//! across partitions. A slow client simply reads later: Kafka keeps the
//! records, the daemon buffers at most `CLIENT_BUFFER` of them.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use logstream_shared::Query;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{CLIENT_BUFFER, Tail, TailError, TailItem, TailStart};
use crate::ingest::KafkaTarget;
use crate::ingest::kafka::{client_config, decode};
use crate::store::Selection;

#[derive(Debug, Clone)]
pub struct KafkaTail {
    target: KafkaTarget,
    options: Vec<(String, String)>,
}

impl KafkaTail {
    pub fn new(target: KafkaTarget, options: Vec<(String, String)>) -> KafkaTail {
        KafkaTail { target, options }
    }
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

impl KafkaTail {
    /// A consumer positioned where the tail starts, and those positions.
    fn consumer_at(&self, start: &TailStart) -> Result<(StreamConsumer, Positions), TailError> {
        let unavailable =
            |e: rdkafka::error::KafkaError| TailError::Unavailable(format!("Kafka: {e}"));
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
        let topic = &self.target.topic;
        let timeout = Duration::from_secs(5);
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(unavailable)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let resumed = match start {
            TailStart::After(text) => {
                Some(parse_cursor(text).ok_or_else(|| TailError::BadCursor(text.clone()))?)
            }
            _ => None,
        };
        let mut positions = Positions::new();
        for partition in partitions {
            let offset = match (start, &resumed) {
                (TailStart::Now, _) => {
                    consumer
                        .fetch_watermarks(topic, partition, timeout)
                        .map_err(unavailable)?
                        .1
                }
                // A partition the cursor does not name is read from its start.
                (_, Some(resumed)) => resumed.get(&partition).copied().unwrap_or(0),
                (_, None) => 0,
            };
            positions.insert(partition, offset);
        }
        let mut assignment = TopicPartitionList::new();
        for (&partition, &offset) in &positions {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(offset))
                .map_err(unavailable)?;
        }
        consumer.assign(&assignment).map_err(unavailable)?;
        Ok((consumer, positions))
    }
}

#[async_trait]
impl Tail for KafkaTail {
    async fn follow(
        &self,
        query: Query,
        start: TailStart,
    ) -> Result<BoxStream<'static, TailItem>, TailError> {
        let tail = self.clone();
        let positioned = {
            let start = start.clone();
            // Metadata and watermarks are blocking calls.
            tokio::task::spawn_blocking(move || tail.consumer_at(&start))
                .await
                .map_err(|e| TailError::Unavailable(e.to_string()))??
        };
        let selection = Selection {
            query,
            since_ns: match start {
                TailStart::Since(since) => Some(since),
                _ => None,
            },
            until_ns: None,
        };
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        tokio::spawn(feed(positioned, selection, tx));
        Ok(ReceiverStream::new(rx).boxed())
    }
}

async fn feed(
    (consumer, mut positions): (StreamConsumer, Positions),
    selection: Selection,
    tx: mpsc::Sender<TailItem>,
) {
    let matcher = selection.matcher();
    loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            () = tx.closed() => return,
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
                return;
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
