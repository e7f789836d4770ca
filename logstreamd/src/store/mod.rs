//! Where records are kept. One trait, one sibling module per backend, the
//! backend chosen by the scheme of a URL (`duckdb://PATH`, `clickhouse://…`).

mod clickhouse;
pub mod counts;
pub(crate) mod duckdb;
mod space;
pub(crate) mod sql;

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use logstream_shared::api::Direction;
use logstream_shared::query::{Cell, Matcher, Output, Table};
use logstream_shared::{Level, LogRecord, Query};

pub use self::clickhouse::{ClickHouseStore, SqlFor, TableReader};
pub use self::counts::{FacetCount, FacetRequest, HistogramCount, HistogramRequest};
pub use self::duckdb::DuckDbStore;
pub use logstream_shared::Cursor;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL \"{url}\" is not supported: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("duckdb: {0}")]
    DuckDb(#[from] ::duckdb::Error),
    #[error("clickhouse: {0}")]
    ClickHouse(String),
    /// The query compiled to a statement past the server's limits on a
    /// query's size (the message names the limit): the user's to shorten.
    #[error("{0}")]
    QueryTooLarge(String),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The disk the store writes to has no room (for a commit, or to fold
    /// the WAL into the database file).
    #[error("the store's disk is full: {0}")]
    DiskFull(String),
    /// DuckDB invalidated the database after a fatal error and opening it
    /// again failed too (it is tried again at the next request).
    #[error("the database could not be opened again after a fatal error: {0}")]
    NotReopened(String),
}

/// What the operating system says when a disk is full (`ENOSPC`), or when
/// the user's quota on it is used up (`EDQUOT`); DuckDB quotes it.
const OUT_OF_SPACE: [&str; 2] = ["No space left on device", "Disk quota exceeded"];

impl StoreError {
    /// Whether the store failed for want of disk space: nothing of what
    /// failed was stored, and it may succeed once space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull(_) => true,
            StoreError::DuckDb(e) => {
                let message = e.to_string();
                OUT_OF_SPACE.iter().any(|m| message.contains(m))
            }
            _ => false,
        }
    }

    /// Whether DuckDB has invalidated the database: after a fatal or an
    /// internal error (a checkpoint that failed for want of space; a read of
    /// a database reopened on a full disk once met "Attempted to access
    /// index 1 within vector of size 0") it refuses every statement until
    /// the database is opened again.
    pub(crate) fn invalidates(&self) -> bool {
        match self {
            StoreError::NotReopened(_) => true,
            StoreError::DuckDb(e) => {
                let message = e.to_string();
                message.starts_with("FATAL Error")
                    || message.starts_with("INTERNAL Error")
                    || message.contains("database has been invalidated")
            }
            _ => false,
        }
    }
}

/// A counter of a store's own, with its name and help for `/metrics`.
#[derive(Debug, Clone)]
pub struct StoreCounter {
    pub name: &'static str,
    pub help: &'static str,
    pub counter: prometheus_client::metrics::counter::Counter,
}

/// A client's name for one ingest request (`Idempotency-Key`), a digest of
/// its body, and the ids its records were given: a retry of the request is
/// recognised, not stored twice, and answered with the ids stored the first
/// time (a retry's records that give no id get new ones as they are read).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
    pub ids: Vec<String>,
}

/// A key as [`Store::known_keys`] finds it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub fingerprint: String,
    /// `None` for a key stored before its ids were.
    pub ids: Option<Vec<String>>,
}

/// Which records a request is about: the query's matches in a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub query: Query,
    /// Inclusive lower bound, nanoseconds since the epoch.
    pub since_ns: Option<i64>,
    /// Exclusive upper bound, nanoseconds since the epoch.
    pub until_ns: Option<i64>,
}

impl Selection {
    /// The selection compiled for deciding in memory, as the stores decide
    /// in SQL, whether records are selected (the live tail filters what it
    /// streams with this). Build it once: it compiles the query's regexes.
    pub fn matcher(&self) -> SelectionMatcher {
        SelectionMatcher {
            since_ns: self.since_ns,
            until_ns: self.until_ns,
            filter: Matcher::new(&self.query.filter),
        }
    }
}

/// See [`Selection::matcher`].
#[derive(Debug, Clone)]
pub struct SelectionMatcher {
    since_ns: Option<i64>,
    until_ns: Option<i64>,
    filter: Matcher,
}

impl SelectionMatcher {
    pub fn matches(&self, record: &LogRecord) -> bool {
        let ts = record.timestamp_nanos();
        self.since_ns.is_none_or(|since| ts >= since)
            && self.until_ns.is_none_or(|until| ts < until)
            && self.filter.matches(record)
    }
}

impl From<Query> for Selection {
    fn from(query: Query) -> Selection {
        Selection {
            query,
            ..Selection::default()
        }
    }
}

/// The first `limit` selected records past `after` in `direction`: by
/// default the newest ones older than `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    pub selection: Selection,
    pub limit: usize,
    pub after: Option<Cursor>,
    pub direction: Direction,
}

/// The table a query with `stats`, `top` or `fields` makes of the selected
/// records: at most `limit` rows unless the query has a `limit` of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRequest {
    pub selection: Selection,
    pub limit: usize,
}

/// A page of records in the request's direction, and where the next page
/// starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub records: Vec<LogRecord>,
    pub next: Option<Cursor>,
}

impl SearchPage {
    /// A page from the rows of a search that asked for one row more than
    /// `limit`: that extra row only tells that a next page exists.
    pub fn of(mut records: Vec<LogRecord>, limit: usize) -> SearchPage {
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().map(Cursor::of)
        } else {
            None
        };
        SearchPage { records, next }
    }
}

/// A log store. Every backend passes the same suite of tests.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// What the store is, for health output and logs (no credentials).
    fn describe(&self) -> String;

    /// The store's own live tail, if it keeps the order records arrived in.
    fn tail(&self) -> Option<Arc<dyn crate::tail::Tail>> {
        None
    }

    /// Stores all records durably, or none of them.
    async fn insert(&self, records: &[LogRecord]) -> Result<()>;

    /// As `insert`, also remembering the requests' idempotency keys: in the
    /// same transaction where the store has one (DuckDB), else right after
    /// the records (ClickHouse), so that a failure in between can store
    /// records twice but never remember a key of records not stored. Stores
    /// that keep no keys only insert.
    async fn insert_keyed(&self, records: &[LogRecord], keys: &[IdempotencyKey]) -> Result<()> {
        let _ = keys;
        self.insert(records).await
    }

    /// Where the ingest journal of this store belongs (see
    /// `ingest::journal`), for stores that record in each commit how far
    /// the journal is applied ([`insert_journaled`](Self::insert_journaled)):
    /// the embedded store. `None`: ingest commits to the store directly.
    fn journal_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// As `insert_keyed`, recording in the same transaction that the
    /// ingest journal is applied through its frame `frame`. Only called on
    /// stores with a [`journal_dir`](Self::journal_dir).
    async fn insert_journaled(
        &self,
        records: &[LogRecord],
        keys: &[IdempotencyKey],
        frame: u64,
    ) -> Result<()> {
        let _ = frame;
        self.insert_keyed(records, keys).await
    }

    /// A write beside the store (its journal) found its disk full: health
    /// reports it until the store can write again.
    fn disk_ran_out(&self, why: String) {
        let _ = why;
    }

    /// The journal frame the last `insert_journaled` recorded (0: none).
    async fn journal_applied(&self) -> Result<u64> {
        Ok(0)
    }

    /// Of `keys`, those stored before, with their fingerprints and ids.
    async fn known_keys(&self, keys: &[String]) -> Result<HashMap<String, KnownKey>> {
        let _ = keys;
        Ok(HashMap::new())
    }

    async fn search(&self, request: SearchRequest) -> Result<SearchPage>;

    /// The record with this id (and this time, in ns, if given), if one is
    /// stored.
    async fn record(&self, id: &str, at_ns: Option<i64>) -> Result<Option<LogRecord>>;

    /// The rows of a table query (see [`TableRequest`]); histograms and
    /// facets are table queries too (see [`counts`]).
    async fn table(&self, request: TableRequest) -> Result<Table>;

    /// The attribute names the selected records have, with how many records
    /// have each: the `limit` most frequent, then by name.
    async fn attribute_names(&self, selection: Selection, limit: usize) -> Result<Vec<FacetCount>>;

    /// Deletes every record of the UTC days before `first_kept` (whole days,
    /// which ClickHouse drops as partitions).
    async fn drop_days_before(&self, first_kept: NaiveDate) -> Result<()>;

    /// Fails when the store cannot serve requests, with
    /// [`StoreError::DiskFull`] while its disk is full.
    async fn health(&self) -> Result<()>;

    /// Counters the store keeps of itself, for `/metrics`.
    fn counters(&self) -> Vec<StoreCounter> {
        Vec::new()
    }

    /// Flushes and releases the store; called once at shutdown.
    async fn close(&self) -> Result<()>;
}

/// A table from a store's rows (one more than `limit` means some were cut).
fn table_of(query: &Query, mut rows: Vec<Vec<Cell>>, limit: usize) -> Table {
    let Output::Table(columns) = query.output() else {
        unreachable!("tables are asked for table queries only")
    };
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Table {
        columns,
        rows,
        truncated,
    }
}

/// A level's number as a cell (a number no level has is corrupt data).
fn level_cell(number: Option<i64>) -> Result<Cell> {
    match number {
        None => Ok(Cell::Null),
        Some(n) => u8::try_from(n)
            .ok()
            .and_then(Level::from_u8)
            .map(Cell::Level)
            .ok_or_else(|| StoreError::Corrupt(format!("level {n}"))),
    }
}

/// How a store is opened, beyond its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// The bytes the embedded database may use (DuckDB's `memory_limit`;
    /// `None`: DuckDB's default, 80% of the machine's memory).
    pub memory_limit: Option<u64>,
    /// The WAL size past which the embedded database checkpoints (DuckDB's
    /// `checkpoint_threshold`; `None`: DuckDB's default, 16 MiB).
    pub checkpoint_threshold: Option<u64>,
}

/// Opens the store a URL names with DuckDB's defaults (see [`open_with`]).
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, &StoreOptions::default()).await
}

/// Opens the store a URL names: `duckdb://PATH` (a relative or, with a third
/// slash, absolute file path) or `clickhouse://USER:PASS@HOST:PORT/DB`.
pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    let bad = |reason: &str| StoreError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected SCHEME://…, for example duckdb://data/logs.duckdb"))?;
    match scheme {
        "duckdb" => {
            if rest.is_empty() {
                return Err(bad(
                    "give the database file, for example duckdb://data/logs.duckdb",
                ));
            }
            let path = Path::new(rest).to_path_buf();
            let options = options.clone();
            let store = tokio::task::spawn_blocking(move || DuckDbStore::open_with(&path, options))
                .await??;
            Ok(Arc::new(store))
        }
        "clickhouse" => Ok(Arc::new(ClickHouseStore::open(url).await?)),
        other => Err(bad(&format!(
            "unknown scheme \"{other}\"; supported: duckdb://PATH, clickhouse://USER:PASS@HOST:8123/DB"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duckdb_error(message: &str) -> StoreError {
        StoreError::DuckDb(::duckdb::Error::DuckDBFailure(
            ::duckdb::ffi::Error::new(1),
            Some(message.into()),
        ))
    }

    /// The messages DuckDB 1.5 gave on a full tmpfs.
    #[test]
    fn duckdb_errors_tell_a_full_disk_and_an_invalidated_database() {
        let wal_full = duckdb_error(
            "TransactionContext Error: Failed to commit: Could not write file \"/d/logs.duckdb.wal\": No space left on device",
        );
        assert!(wal_full.is_disk_full());
        assert!(!wal_full.invalidates());

        let checkpoint_failed = duckdb_error(
            "FATAL Error: Transaction COMMIT succeeded and is durable, but the autocheckpoint failed. \
             Reopen the database instance to recover. Failed to create checkpoint because of error: \
             Could not write file \"/d/logs.duckdb\": No space left on device",
        );
        assert!(checkpoint_failed.is_disk_full());
        assert!(checkpoint_failed.invalidates());

        let invalidated = duckdb_error(
            "FATAL Error: Failed: database has been invalidated because of a previous fatal error. \
             The database must be restarted prior to being used again.",
        );
        assert!(invalidated.invalidates());
        assert!(!invalidated.is_disk_full());

        let internal =
            duckdb_error("INTERNAL Error: Attempted to access index 1 within vector of size 0");
        assert!(internal.invalidates());
        assert!(!internal.is_disk_full());

        let other = duckdb_error("Binder Error: Referenced column \"x\" not found");
        assert!(!other.is_disk_full() && !other.invalidates());
        assert!(StoreError::DiskFull("statvfs".into()).is_disk_full());
    }
}
