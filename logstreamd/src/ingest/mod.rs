//! The ingest pipeline: where accepted records go before a request is
//! answered. A sink resolves `submit` only once the records are durable.

mod direct;
pub mod health;
mod journal;
mod journaled;
pub mod kafka;
pub mod layouts;
pub mod order;
pub mod worker;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use logstream_shared::LogRecord;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::store::IdempotencyKey;

pub use self::direct::{DirectSink, DirectSinkConfig};
pub use self::kafka::{KafkaSink, KafkaTarget};
pub use self::order::Turn;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// Too much is waiting already; the client should retry later.
    #[error("ingest queue is full ({pending} records waiting); retry later")]
    Full {
        pending: usize,
        retry_after: Duration,
    },
    /// The request alone holds more records than the queue ever may.
    #[error(
        "{records} records in one request are more than this daemon queues at once ({max}); send smaller batches"
    )]
    TooLarge { records: usize, max: usize },
    /// One record is larger than the queue takes as one message.
    #[error(
        "record {index} is {bytes} bytes as JSON; the queue takes at most {max} bytes per record"
    )]
    RecordTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    /// The records were not stored; nothing of the request was kept.
    #[error("records could not be stored: {0}")]
    Unavailable(String),
    /// The store's disk is full; nothing of the request was kept, so
    /// sending it again once space is freed stores it once.
    #[error(
        "the store's disk is full: nothing of this request was stored; send it again once space is freed"
    )]
    DiskFull,
    /// The daemon is shutting down.
    #[error("the daemon is shutting down")]
    Closed,
    /// The idempotency key names an earlier request with another body.
    #[error(
        "Idempotency-Key \"{key}\" was used before for a different request; use a new key for new records"
    )]
    KeyReused { key: String },
}

impl SinkError {
    /// Why the store did not take records.
    pub(crate) fn from_store(error: &crate::store::StoreError) -> SinkError {
        if error.is_disk_full() {
            SinkError::DiskFull
        } else {
            SinkError::Unavailable(error.to_string())
        }
    }
}

/// What became of submitted records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Stored,
    /// A request with the same idempotency key and body was stored before:
    /// nothing was stored again. The ids its records were stored with.
    AlreadyStored(Vec<String>),
}

#[async_trait]
pub trait Sink: Send + Sync + Debug {
    /// Resolves once every record is durable, or fails having kept none.
    /// With a `key`, a request already stored under it is not stored again
    /// (where the sink can tell: the embedded pipeline). The `turn` is
    /// dropped once the records' place in the commit order is fixed, which
    /// lets the same client's next batch follow (see [`order`]).
    async fn submit(
        &self,
        records: Vec<LogRecord>,
        key: Option<IdempotencyKey>,
        turn: Turn,
    ) -> Result<Submitted, SinkError>;

    /// Stops taking records and finishes what was submitted.
    async fn shutdown(&self);
}

/// Bounds the records a sink holds that are not yet durable: past the bound,
/// requests fail at once with `Full` (429) instead of queueing without limit.
#[derive(Debug)]
pub(crate) struct PendingLimit {
    capacity: Arc<Semaphore>,
    max: usize,
}

impl PendingLimit {
    pub(crate) fn new(max: usize) -> PendingLimit {
        PendingLimit {
            capacity: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A share of the bound for `records` records, held until they are answered.
    pub(crate) fn admit(&self, records: usize) -> Result<OwnedSemaphorePermit, SinkError> {
        // A request larger than the whole bound would be told to retry forever.
        if records > self.max {
            return Err(SinkError::TooLarge {
                records,
                max: self.max,
            });
        }
        let full = || SinkError::Full {
            pending: self.max - self.capacity.available_permits(),
            retry_after: Duration::from_secs(1),
        };
        let wanted = u32::try_from(records).map_err(|_| full())?;
        Arc::clone(&self.capacity)
            .try_acquire_many_owned(wanted)
            .map_err(|_| full())
    }
}
