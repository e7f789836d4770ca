//! The embedded store: one DuckDB database file.
//!
//! DuckDB is a columnar engine, the single-machine counterpart of ClickHouse:
//! scans and substring searches over millions of messages take a fraction of
//! a second without any index. A commit costs 1–4 ms whatever its size (it
//! syncs the WAL), so writers must hand it large batches: see `ingest::direct`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow::array::{
    ArrayRef, Int64Array, Int64Builder, ListBuilder, StringArray, StringBuilder, UInt8Builder,
};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chrono::{NaiveDate, TimeZone, Utc};
use duckdb::types::Value;
use duckdb::{Connection, params_from_iter};
use logstream_shared::query::{Cell, Table};
use logstream_shared::{Level, LogRecord};
use prometheus_client::metrics::counter::Counter;

use super::space::DiskSpace;
use super::sql::{self, ColumnRead, Dialect, Param};
use super::{
    FacetCount, IdempotencyKey, KnownKey, Result, SearchPage, SearchRequest, Selection, Store,
    StoreCounter, StoreError, StoreOptions, TableRequest,
};
use crate::tail::Tail;
use crate::tail::embedded::EmbeddedTail;

/// Timestamps are nanoseconds since the epoch in a BIGINT (DuckDB's
/// TIMESTAMP keeps microseconds only); levels are 0 (TRACE) to 5 (FATAL), so
/// `level >= ?` works. Attributes are two parallel lists, as in ClickHouse.
/// `seq` numbers records in the order they were committed: the live tail's
/// cursor (client timestamps say nothing about arrival order). Files from
/// before it was added get the column, NULL for their old rows.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs (
    ts          BIGINT   NOT NULL,
    id          VARCHAR  NOT NULL,
    service     VARCHAR  NOT NULL,
    level       UTINYINT NOT NULL,
    message     VARCHAR  NOT NULL,
    host        VARCHAR,
    trace_id    VARCHAR,
    span_id     VARCHAR,
    attr_keys   VARCHAR[] NOT NULL,
    attr_values VARCHAR[] NOT NULL,
    seq         BIGINT
);
ALTER TABLE logs ADD COLUMN IF NOT EXISTS seq BIGINT;
CREATE TABLE IF NOT EXISTS meta (
    name  VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_keys (
    key         VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    stored_at   BIGINT  NOT NULL,
    first_seq   BIGINT,
    records     BIGINT
);
ALTER TABLE ingest_keys ADD COLUMN IF NOT EXISTS first_seq BIGINT;
ALTER TABLE ingest_keys ADD COLUMN IF NOT EXISTS records BIGINT;";

/// How long an idempotency key is remembered: far longer than any client
/// retries one request.
const KEY_MEMORY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Reopens one piece of work may meet before its error is answered.
const REOPEN_TRIES: usize = 3;

/// Committed batches the live feed keeps for subscribers that are behind;
/// one further behind is told so (see `tail::embedded`).
const LIVE_FEED_BATCHES: usize = 64;

/// A record as the live feed publishes it, with its commit number.
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub(crate) seq: i64,
    pub(crate) record: LogRecord,
}

/// Each committed batch, in commit order.
pub(crate) type LiveFeed = tokio::sync::broadcast::Sender<Arc<[Committed]>>;

/// DuckDB spreads one search over all cores; a few at once keep them busy.
const MAX_CONCURRENT_SEARCHES: usize = 4;

/// Cloning is cheap: the clones share the database and the search slots.
#[derive(Debug, Clone)]
pub struct DuckDbStore {
    path: PathBuf,
    /// How the file is opened, again on every reopen.
    options: StoreOptions,
    database: Arc<RwLock<Opened>>,
    /// Makes writes one at a time (so batches are also published in
    /// commit order); holds the `seq` of the last record committed.
    writes: Arc<Mutex<i64>>,
    disk: Arc<DiskSpace>,
    /// Times the database was opened again after DuckDB invalidated it.
    reopens: Counter,
    live: LiveFeed,
    /// Searches running at once, at most: more would only queue inside
    /// DuckDB, while waiting here ends when a timed-out request goes away.
    searches: Arc<tokio::sync::Semaphore>,
}

/// The database as last opened.
#[derive(Debug)]
struct Opened {
    /// None once an invalidated database is closed, until it opens again.
    database: Option<Database>,
    /// How many times the file was opened: calls that met the same
    /// invalidated database reopen it only once.
    times: u64,
}

/// One open instance of the database file and its connections. After a
/// fatal error DuckDB refuses every statement on the instance, so it is
/// replaced whole (see [`DuckDbStore::reopen`]).
#[derive(Debug)]
struct Database {
    /// The connection every write goes through (`DuckDbStore::writes`
    /// takes turns).
    writer: Mutex<Connection>,
    /// Idle connections for searches (DuckDB runs them in parallel).
    readers: Mutex<Vec<Connection>>,
}

/// What shows that a batch was committed: the `seq` of its last record,
/// or, for a request of no records stored under a key, the key.
enum Mark<'a> {
    Seq(i64),
    Key(&'a str),
}

/// A size as DuckDB reads it: with units; whole KiB are exact enough.
fn kib(bytes: u64) -> String {
    format!("{}KiB", (bytes / 1024).max(1))
}

/// Opens the database file with the options' settings.
fn connect(path: &Path, options: &StoreOptions) -> Result<Connection> {
    let mut config = duckdb::Config::default();
    if let Some(bytes) = options.memory_limit {
        config = config.max_memory(&kib(bytes))?;
    }
    if let Some(bytes) = options.checkpoint_threshold {
        config = config.with("checkpoint_threshold", kib(bytes))?;
    }
    Ok(Connection::open_with_flags(path, config)?)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the connection usable: DuckDB
    // rolls back an unfinished transaction.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DuckDbStore {
    /// Opens (creating if needed) the database file and its table.
    pub fn open(path: &Path) -> Result<DuckDbStore> {
        DuckDbStore::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: &Path, options: StoreOptions) -> Result<DuckDbStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::BadUrl {
                url: format!("duckdb://{}", path.display()),
                reason: format!("cannot create directory \"{}\": {e}", dir.display()),
            })?;
        }
        let conn = connect(path, &options)?;
        conn.execute_batch(SCHEMA)?;
        let last_seq = last_seq_of(&conn)?;
        Ok(DuckDbStore {
            path: path.to_path_buf(),
            options,
            database: Arc::new(RwLock::new(Opened {
                database: Some(Database::of(conn)),
                times: 1,
            })),
            writes: Arc::new(Mutex::new(last_seq)),
            disk: Arc::new(DiskSpace::new(path)),
            reopens: Counter::default(),
            live: tokio::sync::broadcast::channel(LIVE_FEED_BATCHES).0,
            searches: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_SEARCHES)),
        })
    }

    /// Commits the columns with the next `seq` numbers, then publishes the
    /// batch to live subscribers (`published`: the records, if anyone listens)
    /// while still holding the write turn, so batches are published in order.
    fn insert_blocking(
        &self,
        mut columns: Vec<(&'static str, ArrayRef)>,
        keys: &[IdempotencyKey],
        journal_frame: Option<u64>,
        published: Option<Vec<LogRecord>>,
    ) -> Result<()> {
        let mut last_seq = lock(&self.writes);
        let rows = columns.first().map_or(0, |(_, c)| c.len()) as i64;
        let first = *last_seq + 1;
        columns.push((
            "seq",
            Arc::new(Int64Array::from_iter_values(first..first + rows)),
        ));
        let batch = RecordBatch::try_from_iter(columns)?;
        let mark = match keys.first() {
            Some(key) if rows == 0 => Mark::Key(&key.key),
            _ => Mark::Seq(first + rows - 1),
        };
        if let Err(e) = self.commit_once(&batch, keys, journal_frame, &mark) {
            // A commit that failed after all was durable (its checkpoint
            // failed and the check could not run) holds these numbers: the
            // next batch must not take them again.
            if let Ok(stored) = self.with_reader(last_seq_of) {
                *last_seq = (*last_seq).max(stored);
            }
            return Err(e);
        }
        *last_seq += rows;
        let committed: Option<Arc<[Committed]>> = match published {
            Some(records) => Some(
                (first..)
                    .zip(records)
                    .map(|(seq, record)| Committed { seq, record })
                    .collect(),
            ),
            // Someone subscribed after the records were copied, and may
            // have read the history before this commit: the batch is read
            // back, or that subscriber would wait for the next batch to see
            // the gap.
            None if rows > 0 && self.live.receiver_count() > 0 => self
                .with_reader(|conn| {
                    committed_rows(conn, &Selection::default(), first - 1, rows as usize)
                })
                .ok()
                .map(Into::into),
            None => None,
        };
        if let Some(committed) = committed {
            // No receiver left is fine: nobody is tailing.
            let _ = self.live.send(committed);
        }
        Ok(())
    }

    /// Commits the batch, reopening the database if DuckDB invalidated it,
    /// and answers whether it was stored: exactly once either way. DuckDB
    /// invalidates the database when the checkpoint it runs after a commit
    /// fails (the disk is full), although the commit itself is durable; or
    /// the database was invalidated before the transaction began. Which of
    /// the two, the reopened database tells by holding `mark` or not; in
    /// the second case the batch is committed again, once.
    fn commit_once(
        &self,
        batch: &RecordBatch,
        keys: &[IdempotencyKey],
        journal_frame: Option<u64>,
        mark: &Mark,
    ) -> Result<()> {
        for attempt in 1.. {
            let (result, opened) = self.on_open(|db| db.commit(batch, keys, journal_frame));
            let error = match result {
                Ok(()) => {
                    self.disk.freed();
                    return Ok(());
                }
                Err(error) => error,
            };
            self.note_disk_full(&error);
            if !error.invalidates() {
                return Err(error);
            }
            self.reopen(opened, &error)?;
            if self.with_reader(|conn| holds(conn, mark))? {
                tracing::warn!(error = %error, "the batch was committed, but the checkpoint after it failed; the database was opened again");
                return Ok(());
            }
            if attempt == 2 {
                return Err(error);
            }
        }
        unreachable!("the loop returns by its second attempt")
    }

    /// Counts the disk as full if `error` says so.
    fn note_disk_full(&self, error: &StoreError) {
        if error.is_disk_full() {
            self.disk.ran_out(error.to_string());
        }
    }

    /// Runs `work` on the database as it is open now (with a read lock, so
    /// that reopening waits for it), returning also which opening it was.
    fn on_open<T>(&self, work: impl FnOnce(&Database) -> Result<T>) -> (Result<T>, u64) {
        let opened = self
            .database
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = match &opened.database {
            Some(database) => work(database),
            None => Err(StoreError::NotReopened(
                "it was closed and not opened again".into(),
            )),
        };
        (result, opened.times)
    }

    /// As [`on_open`](Self::on_open); if DuckDB has invalidated the
    /// database, opens it again and runs `work` once more. Only for work
    /// that can run twice: reads, and writes that change nothing twice.
    fn on_database<T>(&self, mut work: impl FnMut(&Database) -> Result<T>) -> Result<T> {
        // Under load on a full disk, another commit's failed checkpoint may
        // invalidate the reopened database before `work` runs: try again.
        for _ in 0..REOPEN_TRIES {
            let (result, opened) = self.on_open(&mut work);
            match result {
                Err(e) if e.invalidates() => self.reopen(opened, &e)?,
                result => return result,
            }
        }
        self.on_open(work).0
    }

    /// Closes the database that DuckDB invalidated (at its opening number
    /// `seen`) and opens the file again, which replays the WAL: every
    /// committed batch is there, the one whose checkpoint failed too.
    /// Reopening works on a full disk as well; the checkpoint waits until
    /// there is room (see `recover_disk`).
    fn reopen(&self, seen: u64, why: &StoreError) -> Result<()> {
        let mut opened = self
            .database
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if opened.times != seen {
            return Ok(()); // opened again meanwhile
        }
        // The old instance's connections must all be closed before the file
        // is opened again, or two instances would write one file. With the
        // write lock no search holds one, so dropping the database closes it.
        opened.database = None;
        opened.times += 1;
        let conn = connect(&self.path, &self.options)
            .map_err(|e| StoreError::NotReopened(e.to_string()))?;
        opened.database = Some(Database::of(conn));
        self.reopens.inc();
        tracing::warn!(error = %why, "DuckDB invalidated the database after a fatal error; opened it again");
        Ok(())
    }

    /// While the disk counts as full: if it has room again, retries the
    /// checkpoint that failed, a write that proves the disk takes writes,
    /// and counts the disk as freed once it succeeds. Fails with
    /// [`StoreError::DiskFull`] while the disk is still full.
    fn recover_disk(&self) -> Result<()> {
        if self.disk.full().is_none() {
            return Ok(());
        }
        self.disk.room_to_checkpoint().map_err(|why| {
            self.disk.ran_out(why.clone());
            StoreError::DiskFull(why)
        })?;
        let _writing = lock(&self.writes);
        let (result, opened) = self.on_open(Database::checkpoint);
        match result {
            Ok(()) => {
                self.disk.freed();
                Ok(())
            }
            Err(e) => {
                self.note_disk_full(&e);
                // A failed checkpoint invalidates the database.
                if e.invalidates() {
                    self.reopen(opened, &e)?;
                }
                Err(StoreError::DiskFull(e.to_string()))
            }
        }
    }

    /// A live subscription to every batch committed from now on, and the
    /// `seq` of the last record committed before it. Off the runtime: it
    /// waits for a commit under way (as long as a checkpoint, at worst).
    pub(crate) async fn subscribe(
        &self,
    ) -> Result<(tokio::sync::broadcast::Receiver<Arc<[Committed]>>, i64)> {
        self.blocking(|store| {
            // Between commits: a commit under way sees this subscriber when
            // it publishes (see `insert_blocking`), or is over and in the
            // history.
            let last_seq = lock(&store.writes);
            Ok((store.live.subscribe(), *last_seq))
        })
        .await
    }

    /// Up to `limit` selected records committed after `after_seq`, in commit order.
    pub(crate) async fn committed_after(
        &self,
        selection: Selection,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Committed>> {
        self.read(move |conn| committed_rows(conn, &selection, after_seq, limit))
            .await
    }

    /// Runs `read` on an idle reader connection of the open database.
    fn with_reader<T>(&self, read: impl Fn(&Connection) -> Result<T>) -> Result<T> {
        self.on_database(|db| db.with_reader(&read))
    }

    /// Runs blocking DuckDB work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DuckDbStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store)).await?
    }

    /// A read-only query, at most `MAX_CONCURRENT_SEARCHES` at once.
    async fn read<T: Send + 'static>(
        &self,
        read: impl Fn(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        // The permit moves into the blocking task: a request that times out
        // stops waiting, but its query holds the slot until DuckDB finishes.
        let running = Arc::clone(&self.searches)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        self.blocking(move |store| {
            let _running = running;
            store.with_reader(read)
        })
        .await
    }

    /// Stores the records and keys in one commit, which also records how
    /// far the ingest journal is applied when `journal_frame` is given.
    async fn insert_marked(
        &self,
        records: &[LogRecord],
        keys: &[IdempotencyKey],
        journal_frame: Option<u64>,
    ) -> Result<()> {
        if records.is_empty() && keys.is_empty() && journal_frame.is_none() {
            return Ok(());
        }
        let keys = keys.to_vec();
        // Columnar copies of the records, so the blocking task owns its data;
        // row copies too when someone is tailing.
        let columns = to_columns(records);
        let published = (self.live.receiver_count() > 0).then(|| records.to_vec());
        self.blocking(move |store| store.insert_blocking(columns, &keys, journal_frame, published))
            .await
    }
}

impl Database {
    fn of(writer: Connection) -> Database {
        Database {
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        }
    }

    /// Appends the batch and remembers the keys, and how far the ingest
    /// journal is applied with it, in one transaction.
    fn commit(
        &self,
        batch: &RecordBatch,
        keys: &[IdempotencyKey],
        journal_frame: Option<u64>,
    ) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut appender = tx.appender("logs")?;
            appender.append_record_batch(batch.clone())?;
            appender.flush()?;
        }
        if let Some(frame) = journal_frame {
            tx.prepare_cached("INSERT OR REPLACE INTO meta VALUES ('journal_applied', ?)")?
                .execute([i64::try_from(frame).unwrap_or(i64::MAX)])?;
        }
        if !keys.is_empty() {
            let now = Utc::now();
            // A key's records are found again by their `seq` range: storing
            // their ids beside the key would write every id twice.
            let mut remember = tx.prepare_cached(
                "INSERT INTO ingest_keys (key, fingerprint, stored_at, first_seq, records) \
                 VALUES (?, ?, ?, ?, ?)",
            )?;
            for (key, first_seq) in keys.iter().zip(first_seqs(batch, keys)) {
                let records = i64::try_from(key.ids.len()).unwrap_or(i64::MAX);
                remember.execute(duckdb::params![
                    key.key,
                    key.fingerprint,
                    now.timestamp_nanos_opt(),
                    first_seq,
                    records
                ])?;
            }
            drop(remember);
            let forget_before = (now - KEY_MEMORY).timestamp_nanos_opt();
            tx.execute(
                "DELETE FROM ingest_keys WHERE stored_at < ?",
                [forget_before],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Folds the WAL into the database file.
    fn checkpoint(&self) -> Result<()> {
        lock(&self.writer).execute_batch("CHECKPOINT")?;
        Ok(())
    }

    /// Runs `read` on an idle reader connection, returning it to the pool.
    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.reader()?;
        let result = read(&conn);
        lock(&self.readers).push(conn);
        result
    }

    fn reader(&self) -> Result<Connection> {
        if let Some(conn) = lock(&self.readers).pop() {
            return Ok(conn);
        }
        Ok(lock(&self.writer).try_clone()?)
    }
}

/// Up to `limit` selected records committed after `after_seq`, in commit order.
fn committed_rows(
    conn: &Connection,
    selection: &Selection,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<Committed>> {
    let compiled = sql::tail_sql(Dialect::DuckDb, selection, after_seq, limit);
    query_rows(conn, compiled, |row| {
        Ok(Committed {
            seq: row.get(0)?,
            record: record_from_row_at(row, 1)?,
        })
    })
}

/// The `seq` of the last record committed. Retention may have deleted the
/// newest records; `meta` remembers how far numbering got, so a number is
/// never given out twice.
fn last_seq_of(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT greatest(
             (SELECT coalesce(max(seq), 0) FROM logs),
             (SELECT coalesce(max(value), 0) FROM meta WHERE name = 'last_seq'))",
        [],
        |row| row.get(0),
    )?)
}

/// Whether the batch that `mark` marks is stored.
fn holds(conn: &Connection, mark: &Mark) -> Result<bool> {
    let count: i64 = match mark {
        Mark::Seq(seq) => {
            conn.query_row("SELECT count(*) FROM logs WHERE seq = ?", [seq], |row| {
                row.get(0)
            })?
        }
        Mark::Key(key) => conn.query_row(
            "SELECT count(*) FROM ingest_keys WHERE key = ?",
            [key],
            |row| row.get(0),
        )?,
    };
    Ok(count > 0)
}

/// The ids of the `records` records from `first_seq` on, in order; `None`
/// if some are gone (dropped by retention since).
fn ids_of_seqs(conn: &Connection, first_seq: i64, records: i64) -> Result<Option<Vec<String>>> {
    let mut statement =
        conn.prepare_cached("SELECT id FROM logs WHERE seq >= ? AND seq < ? ORDER BY seq")?;
    let ids = statement
        .query_map([first_seq, first_seq.saturating_add(records)], |row| {
            row.get(0)
        })?
        .collect::<duckdb::Result<Vec<String>>>()?;
    Ok((ids.len() as i64 == records).then_some(ids))
}

/// Runs a compiled statement and maps each row.
fn query_rows<T>(
    conn: &Connection,
    (sql, params): (String, Vec<Param>),
    mut map: impl FnMut(&duckdb::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut statement = conn.prepare_cached(&sql)?;
    let values = params.into_iter().map(|p| match p {
        Param::Int(i) => Value::BigInt(i),
        Param::Float(x) => Value::Double(x),
        Param::Text(s) => Value::Text(s),
    });
    let mut rows = statement.query(params_from_iter(values))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn search_on(conn: &Connection, request: &SearchRequest) -> Result<SearchPage> {
    let records = query_rows(
        conn,
        sql::search_sql(Dialect::DuckDb, request),
        record_from_row,
    )?;
    Ok(SearchPage::of(records, request.limit))
}

fn table_on(conn: &Connection, request: &TableRequest) -> Result<Table> {
    let compiled = sql::table_sql(Dialect::DuckDb, request);
    let reads = compiled.reads;
    let rows = query_rows(conn, (compiled.sql, compiled.params), |row| {
        reads
            .iter()
            .enumerate()
            .map(|(i, read)| cell_of(row, i, *read))
            .collect()
    })?;
    Ok(super::table_of(
        &request.selection.query,
        rows,
        compiled.limit,
    ))
}

fn cell_of(row: &duckdb::Row<'_>, column: usize, read: ColumnRead) -> Result<Cell> {
    Ok(match read {
        ColumnRead::Text => row
            .get::<_, Option<String>>(column)?
            .map_or(Cell::Null, Cell::Text),
        ColumnRead::Int => row
            .get::<_, Option<i64>>(column)?
            .map_or(Cell::Null, Cell::Int),
        ColumnRead::Float => row
            .get::<_, Option<f64>>(column)?
            .map_or(Cell::Null, Cell::Float),
        ColumnRead::Time => row
            .get::<_, Option<i64>>(column)?
            .map_or(Cell::Null, Cell::Time),
        ColumnRead::Level => super::level_cell(row.get(column)?)?,
    })
}

fn level_of(row: &duckdb::Row<'_>, column: usize) -> Result<Level> {
    let level: u8 = row.get(column)?;
    Level::from_u8(level).ok_or_else(|| StoreError::Corrupt(format!("level {level}")))
}

fn count_of(row: &duckdb::Row<'_>, column: usize) -> Result<u64> {
    let count: i64 = row.get(column)?;
    Ok(count.unsigned_abs())
}

fn record_from_row(row: &duckdb::Row<'_>) -> Result<LogRecord> {
    record_from_row_at(row, 0)
}

/// A record from `sql::RECORD_COLUMNS`, starting at column `first`.
fn record_from_row_at(row: &duckdb::Row<'_>, first: usize) -> Result<LogRecord> {
    let keys = string_list(row.get(first + 8)?)?;
    let values = string_list(row.get(first + 9)?)?;
    Ok(LogRecord {
        timestamp: Utc.timestamp_nanos(row.get(first)?),
        id: row.get(first + 1)?,
        service: row.get(first + 2)?,
        level: level_of(row, first + 3)?,
        message: row.get(first + 4)?,
        host: row.get(first + 5)?,
        trace_id: row.get(first + 6)?,
        span_id: row.get(first + 7)?,
        attributes: keys.into_iter().zip(values).collect::<BTreeMap<_, _>>(),
    })
}

fn string_list(value: Value) -> Result<Vec<String>> {
    let Value::List(items) = value else {
        return Err(StoreError::Corrupt(format!(
            "expected a list, got {value:?}"
        )));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Text(s) => Ok(s),
            other => Err(StoreError::Corrupt(format!(
                "expected text in a list, got {other:?}"
            ))),
        })
        .collect()
}

/// Where each key's records start in the batch's `seq` numbers (a
/// request's records are committed together, in order); `None` for a key
/// of no records.
fn first_seqs(batch: &RecordBatch, keys: &[IdempotencyKey]) -> Vec<Option<i64>> {
    let column = |name: &str| batch.column_by_name(name).map(|c| c.as_any());
    let ids = column("id").and_then(|c| c.downcast_ref::<StringArray>());
    let seqs = column("seq").and_then(|c| c.downcast_ref::<Int64Array>());
    let (Some(ids), Some(seqs)) = (ids, seqs) else {
        return vec![None; keys.len()];
    };
    let firsts: HashSet<&str> = keys
        .iter()
        .filter_map(|key| key.ids.first())
        .map(String::as_str)
        .collect();
    let mut at: HashMap<&str, i64> = HashMap::with_capacity(firsts.len());
    for (row, id) in ids.iter().enumerate() {
        if let Some(id) = id.filter(|id| firsts.contains(id)) {
            at.insert(id, seqs.value(row));
        }
    }
    keys.iter()
        .map(|key| key.ids.first().and_then(|id| at.get(id.as_str()).copied()))
        .collect()
}

/// The records as Arrow columns in the table's column order (but `seq`,
/// which the writer adds): the appender copies whole columns, far faster
/// than row by row.
fn to_columns(records: &[LogRecord]) -> Vec<(&'static str, ArrayRef)> {
    let n = records.len();
    let mut ts = Int64Builder::with_capacity(n);
    let mut id = StringBuilder::with_capacity(n, n * 36);
    let mut service = StringBuilder::new();
    let mut level = UInt8Builder::with_capacity(n);
    let mut message = StringBuilder::new();
    let mut host = StringBuilder::new();
    let mut trace_id = StringBuilder::new();
    let mut span_id = StringBuilder::new();
    let mut attr_keys = ListBuilder::new(StringBuilder::new());
    let mut attr_values = ListBuilder::new(StringBuilder::new());
    for r in records {
        ts.append_value(r.timestamp_nanos());
        id.append_value(&r.id);
        service.append_value(&r.service);
        level.append_value(r.level.as_u8());
        message.append_value(&r.message);
        host.append_option(r.host.as_deref());
        trace_id.append_option(r.trace_id.as_deref());
        span_id.append_option(r.span_id.as_deref());
        for (k, v) in &r.attributes {
            attr_keys.values().append_value(k);
            attr_values.values().append_value(v);
        }
        attr_keys.append(true);
        attr_values.append(true);
    }
    vec![
        ("ts", Arc::new(ts.finish())),
        ("id", Arc::new(id.finish())),
        ("service", Arc::new(service.finish())),
        ("level", Arc::new(level.finish())),
        ("message", Arc::new(message.finish())),
        ("host", Arc::new(host.finish())),
        ("trace_id", Arc::new(trace_id.finish())),
        ("span_id", Arc::new(span_id.finish())),
        ("attr_keys", Arc::new(attr_keys.finish())),
        ("attr_values", Arc::new(attr_values.finish())),
    ]
}

#[async_trait]
impl Store for DuckDbStore {
    fn describe(&self) -> String {
        format!("duckdb://{}", self.path.display())
    }

    fn tail(&self) -> Option<Arc<dyn Tail>> {
        Some(Arc::new(EmbeddedTail::new(self.clone())))
    }

    async fn insert(&self, records: &[LogRecord]) -> Result<()> {
        self.insert_keyed(records, &[]).await
    }

    async fn insert_keyed(&self, records: &[LogRecord], keys: &[IdempotencyKey]) -> Result<()> {
        self.insert_marked(records, keys, None).await
    }

    fn journal_dir(&self) -> Option<PathBuf> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".journal");
        Some(PathBuf::from(name))
    }

    async fn insert_journaled(
        &self,
        records: &[LogRecord],
        keys: &[IdempotencyKey],
        frame: u64,
    ) -> Result<()> {
        self.insert_marked(records, keys, Some(frame)).await
    }

    fn disk_ran_out(&self, why: String) {
        self.disk.ran_out(why);
    }

    async fn journal_applied(&self) -> Result<u64> {
        self.blocking(|store| {
            store.with_reader(|conn| {
                let frame: i64 = conn.query_row(
                    "SELECT coalesce(max(value), 0) FROM meta WHERE name = 'journal_applied'",
                    [],
                    |row| row.get(0),
                )?;
                Ok(u64::try_from(frame).unwrap_or(0))
            })
        })
        .await
    }

    async fn known_keys(&self, keys: &[String]) -> Result<HashMap<String, KnownKey>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = keys.to_vec();
        // Not behind the search slots: ingest must not wait for searches.
        self.blocking(move |store| {
            store.with_reader(|conn| {
                let sql = format!(
                    "SELECT key, fingerprint, first_seq, records FROM ingest_keys WHERE key IN ({})",
                    sql::placeholders(keys.len())
                );
                let mut statement = conn.prepare(&sql)?;
                let rows = statement.query_map(params_from_iter(keys.iter()), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<i64>>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })?;
                let mut known = HashMap::new();
                for row in rows {
                    let (key, fingerprint, first_seq, records) = row?;
                    let ids = match (first_seq, records) {
                        (_, Some(0)) => Some(Vec::new()),
                        (Some(first), Some(records)) => ids_of_seqs(conn, first, records)?,
                        _ => None,
                    };
                    known.insert(key, KnownKey { fingerprint, ids });
                }
                Ok(known)
            })
        })
        .await
    }

    async fn search(&self, request: SearchRequest) -> Result<SearchPage> {
        self.read(move |conn| search_on(conn, &request)).await
    }

    async fn record(&self, id: &str, at_ns: Option<i64>) -> Result<Option<LogRecord>> {
        let statement = sql::record_sql(id, at_ns);
        self.read(move |conn| Ok(query_rows(conn, statement.clone(), record_from_row)?.pop()))
            .await
    }

    async fn table(&self, request: TableRequest) -> Result<Table> {
        self.read(move |conn| table_on(conn, &request)).await
    }

    async fn attribute_names(&self, selection: Selection, limit: usize) -> Result<Vec<FacetCount>> {
        self.read(move |conn| {
            let compiled = sql::attribute_names_sql(Dialect::DuckDb, &selection, limit);
            query_rows(conn, compiled, |row| {
                Ok(FacetCount {
                    value: row.get(0)?,
                    count: count_of(row, 1)?,
                })
            })
        })
        .await
    }

    async fn drop_days_before(&self, first_kept: NaiveDate) -> Result<()> {
        let cutoff = first_kept
            .and_hms_opt(0, 0, 0)
            .and_then(|midnight| midnight.and_utc().timestamp_nanos_opt())
            .unwrap_or(i64::MIN);
        self.blocking(move |store| {
            let last_seq = lock(&store.writes);
            // Deleting twice deletes nothing more: safe to retry on a reopened database.
            let deleted = store
                .on_database(|db| {
                    let mut conn = lock(&db.writer);
                    let tx = conn.transaction()?;
                    tx.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)",
                        [*last_seq],
                    )?;
                    let deleted = tx.execute("DELETE FROM logs WHERE ts < ?", [cutoff])?;
                    tx.commit()?;
                    Ok(deleted)
                })
                .inspect_err(|e| store.note_disk_full(e))?;
            if deleted > 0 {
                tracing::info!(deleted, before = %first_kept, "retention: deleted old logs");
            }
            Ok(())
        })
        .await
    }

    async fn health(&self) -> Result<()> {
        self.blocking(|store| {
            store.with_reader(|conn| {
                Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i32>(0))?)
            })?;
            store.recover_disk()
        })
        .await
    }

    fn counters(&self) -> Vec<StoreCounter> {
        vec![StoreCounter {
            name: "store_reopens",
            help: "Times the embedded database was opened again after DuckDB invalidated it (a checkpoint failed, as on a full disk)",
            counter: self.reopens.clone(),
        }]
    }

    async fn close(&self) -> Result<()> {
        self.blocking(|store| {
            let _writing = lock(&store.writes);
            let (result, _) = store.on_open(|db| {
                lock(&db.readers).clear();
                // Folds the WAL into the database file so the next start is quick.
                db.checkpoint()
            });
            match result {
                // The WAL still holds every commit: the next start replays it.
                Err(e) if e.is_disk_full() || e.invalidates() => {
                    tracing::warn!(error = %e, "could not fold the WAL into the database file; the next start replays it");
                    Ok(())
                }
                result => result,
            }
        })
        .await
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn the_memory_limit_and_checkpoint_threshold_are_duckdbs() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            memory_limit: Some(256 * 1024 * 1024),
            checkpoint_threshold: Some(128 * 1024 * 1024),
        };
        let conn = connect(&dir.path().join("m.duckdb"), &options).unwrap();
        let setting = |name: &str| -> String {
            conn.query_row(&format!("SELECT current_setting('{name}')"), [], |row| {
                row.get(0)
            })
            .unwrap()
        };
        assert_eq!(setting("memory_limit"), "256.0 MiB");
        assert_eq!(setting("checkpoint_threshold"), "128.0 MiB");
    }
}
