//! One consumer for every subscriber that tails from now on: a Kafka
//! consumer costs a few threads and a connection per broker, so the
//! subscribers without a cursor or `since` (most of them: a dashboard, a
//! terminal following new records) share one feed of the topic instead of
//! reading it each with their own.
//!
//! The feed starts with its first subscriber, decodes each message once and
//! hands it to every subscriber, and stops (closing its consumer on a
//! blocking thread) once it has none. A subscriber starts from the
//! positions the feed had when it joined and gets every message after
//! them, so its cursors are as exact as with a consumer of its own. One
//! that falls more than [`FEED_BUFFER`] messages behind is sent `Lagged`
//! with the cursor of everything it has seen, and resumes from there.

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use logstream_shared::LogRecord;
use prometheus_client::metrics::gauge::Gauge;
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Mutex, broadcast, mpsc};

use super::{KafkaTail, Positions, close, cursor};
use crate::ingest::kafka::decode;
use crate::store::Selection;
use crate::tail::{TailError, TailItem, TailStart};

/// Messages the feed holds for its slowest subscriber.
const FEED_BUFFER: usize = 4096;

/// A message as the feed hands it on: where it was, and its record (none
/// when it does not decode: the workers dead-letter those).
#[derive(Debug)]
pub(super) struct Read {
    partition: i32,
    next_offset: i64,
    record: Option<LogRecord>,
}

/// The running feed, if any.
#[derive(Debug, Default)]
pub(super) struct SharedFeed {
    running: Mutex<Option<Arc<Feed>>>,
}

#[derive(Debug)]
struct Feed {
    /// The next offset of each partition after the last message sent;
    /// locked while a message is sent, so that a subscriber joins between
    /// two messages.
    positions: SyncMutex<Positions>,
    sender: broadcast::Sender<Arc<Read>>,
}

/// A subscriber's place in the feed: the positions it starts after, and
/// every message from there.
pub(super) type Joined = (Positions, broadcast::Receiver<Arc<Read>>);

impl SharedFeed {
    /// Joins the feed, starting it if it is not running.
    pub(super) async fn join(self: &Arc<Self>, tail: &KafkaTail) -> Result<Joined, TailError> {
        let mut running = self.running.lock().await;
        let feed = match &*running {
            Some(feed) => Arc::clone(feed),
            None => {
                let feed = self.start(tail).await?;
                *running = Some(Arc::clone(&feed));
                feed
            }
        };
        let positions = feed.positions.lock().unwrap_or_else(|p| p.into_inner());
        Ok((positions.clone(), feed.sender.subscribe()))
    }

    async fn start(self: &Arc<Self>, tail: &KafkaTail) -> Result<Arc<Feed>, TailError> {
        let reader = tail.clone();
        let (consumer, positions) =
            tokio::task::spawn_blocking(move || reader.consumer_at(&TailStart::Now))
                .await
                .map_err(|e| TailError::Unavailable(e.to_string()))??;
        let feed = Arc::new(Feed {
            positions: SyncMutex::new(positions),
            sender: broadcast::channel(FEED_BUFFER).0,
        });
        let consumers = tail.gauges.consumers.clone();
        consumers.inc();
        tokio::spawn(Arc::clone(self).run(Arc::clone(&feed), consumer, consumers));
        Ok(feed)
    }

    /// Reads the topic for the feed's subscribers until it has none.
    async fn run(self: Arc<Self>, feed: Arc<Feed>, consumer: StreamConsumer, consumers: Gauge) {
        let mut idle_check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                message = consumer.recv() => match message {
                    Ok(message) => feed.send(Read {
                        partition: message.partition(),
                        next_offset: message.offset() + 1,
                        record: decode(message.payload()).ok(),
                    }),
                    Err(e) => {
                        tracing::debug!(error = %e, "live tail: Kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
                _ = idle_check.tick() => {}
            }
            if feed.sender.receiver_count() == 0 && self.stop_if_idle(&feed).await {
                break;
            }
        }
        close(consumer).await;
        consumers.dec();
    }

    /// Takes the feed out of service if nobody joined it meanwhile.
    async fn stop_if_idle(&self, feed: &Arc<Feed>) -> bool {
        let mut running = self.running.lock().await;
        let idle = feed.sender.receiver_count() == 0;
        if idle && running.as_ref().is_some_and(|r| Arc::ptr_eq(r, feed)) {
            *running = None;
        }
        idle
    }
}

impl Feed {
    fn send(&self, read: Read) {
        let mut positions = self.positions.lock().unwrap_or_else(|p| p.into_inner());
        positions.insert(read.partition, read.next_offset);
        // No subscriber left is not an error: the feed stops at its next check.
        let _ = self.sender.send(Arc::new(read));
    }
}

/// Sends a subscriber the records it selects from the feed, until it goes
/// away or falls too far behind.
pub(super) async fn follow(
    (mut positions, mut reads): Joined,
    selection: Selection,
    tx: mpsc::Sender<TailItem>,
) {
    let matcher = selection.matcher();
    loop {
        let read = tokio::select! {
            read = reads.recv() => read,
            () = tx.closed() => return,
        };
        let read = match read {
            Ok(read) => read,
            Err(RecvError::Lagged(_) | RecvError::Closed) => {
                let resume = Some(cursor(&positions));
                let _ = tx.send(TailItem::Lagged { resume }).await;
                return;
            }
        };
        positions.insert(read.partition, read.next_offset);
        if let Some(record) = read.record.as_ref().filter(|r| matcher.matches(r)) {
            let item = TailItem::Record {
                cursor: cursor(&positions),
                record: record.clone(),
            };
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }
}
