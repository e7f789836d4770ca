//! The ingest pipeline: where accepted records go before a request is
//! answered. A sink resolves `submit` only once the records are durable.

mod direct;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use logstream_shared::LogRecord;

pub use self::direct::{DirectSink, DirectSinkConfig};

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
    /// The records were not stored; nothing of the request was kept.
    #[error("records could not be stored: {0}")]
    Unavailable(String),
    /// The daemon is shutting down.
    #[error("the daemon is shutting down")]
    Closed,
}

#[async_trait]
pub trait Sink: Send + Sync + Debug {
    /// Resolves once every record is durable, or fails having kept none.
    async fn submit(&self, records: Vec<LogRecord>) -> Result<(), SinkError>;

    /// Stops taking records and finishes what was submitted.
    async fn shutdown(&self);
}
