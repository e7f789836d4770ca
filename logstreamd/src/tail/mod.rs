//! The live tail: matching records in the order the daemon stored them, each
//! with a cursor to resume after it. One trait, one sibling per source:
//! - `embedded`: the DuckDB store numbers every record it commits (`seq`) and
//!   publishes each committed batch; history comes from the store.
//! - `kafka`: the API process reads the topic itself (its own consumers, not
//!   the workers' group), so records show before the workers' next insert;
//!   the cursor is the next offset of every partition. Subscribers that
//!   follow from now on share one consumer.

pub mod embedded;
pub mod kafka;

use std::fmt::Debug;

use async_trait::async_trait;
use futures::stream::BoxStream;
use logstream_shared::{LogRecord, Query};

/// Where a tail starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailStart {
    /// With the next record stored.
    Now,
    /// With the stored records whose timestamp is at or after this (ns), then
    /// everything stored from then on.
    Since(i64),
    /// Right after the record this cursor was sent with, still selecting
    /// only records at or after `since` (ns) if the tail was opened with it:
    /// a client that reconnects asks for the same records as before.
    After { cursor: String, since: Option<i64> },
}

impl TailStart {
    /// The lower time bound of the records the tail selects.
    pub fn since_ns(&self) -> Option<i64> {
        match self {
            TailStart::Now => None,
            TailStart::Since(since) => Some(*since),
            TailStart::After { since, .. } => *since,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TailItem {
    Record {
        cursor: String,
        record: LogRecord,
    },
    /// The client fell too far behind; it can resume after `resume`, a
    /// cursor past every record it was sent. The stream ends after this.
    Lagged {
        resume: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error(
        "cursor \"{0}\" is not one this daemon gave out: resume with the id of an event it sent"
    )]
    BadCursor(String),
    #[error("the live tail is not available: {0}")]
    Unavailable(String),
    /// The tail's limits are reached: what, and which flag sets it.
    #[error("{0}; retry later")]
    Busy(String),
}

/// A source of live records.
#[async_trait]
pub trait Tail: Send + Sync + Debug {
    /// Matching records from `start` on, without end (until the client goes).
    async fn follow(
        &self,
        query: Query,
        start: TailStart,
    ) -> Result<BoxStream<'static, TailItem>, TailError>;
}

/// Records a tail's background task may hold for its client before the
/// client counts as too slow (the task then waits, and the source decides:
/// the embedded feed reports `Lagged`, Kafka simply keeps the records).
pub(crate) const CLIENT_BUFFER: usize = 1024;
