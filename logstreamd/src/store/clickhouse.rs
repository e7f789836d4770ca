//! The scale-out store: a ClickHouse server, through the official crate over HTTP.
//!
//! One schema serves every server from Debian's 18.16 to current releases;
//! what only newer servers have is added when `SELECT version()` allows it.
//!
//! Layout, for the queries we run (every one is bounded by time and the
//! searches read newest first):
//! - `PARTITION BY day`: a time range reads only its days, and retention
//!   drops whole days, which every version can do cheaply.
//! - `ORDER BY (ts, id)`: exactly the search order, so a newest-first page
//!   reads the end of the table in order and stops after LIMIT rows, and the
//!   primary index prunes by time inside a day. Service and level filters
//!   scan small columns (LowCardinality and Enum8) instead of leading the key,
//!   because most searches are not for one service.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{NaiveDate, TimeZone, Utc};
use clickhouse::{Client, Row};
use logstream_shared::query::{Cell, Table};
use logstream_shared::{Level, LogRecord};
use serde::{Deserialize, Serialize};

use super::sql::{self, ColumnRead, Dialect, Param};
use super::{
    FacetCount, IdempotencyKey, KnownKey, Result, SearchPage, SearchRequest, Selection, Store,
    StoreError, TableRequest,
};

/// The level enum, in the order of `Level::as_u8`.
const LEVEL_ENUM: &str =
    "Enum8('TRACE' = 0, 'DEBUG' = 1, 'INFO' = 2, 'WARN' = 3, 'ERROR' = 4, 'FATAL' = 5)";

/// Types every supported server understands (18.16 has no LowCardinality
/// without an experimental setting, no codecs, skip indexes or DateTime64).
fn schema_for_every_server() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS logs (
            day         Date,
            ts          Int64,
            id          String,
            service     String,
            level       {LEVEL_ENUM},
            message     String,
            host        Nullable(String),
            trace_id    Nullable(String),
            span_id     Nullable(String),
            attr_keys   Array(String),
            attr_values Array(String)
        ) ENGINE = MergeTree PARTITION BY day ORDER BY (ts, id)"
    )
}

/// The same columns with what servers since 22.3 offer: dictionary-encoded
/// repeated strings, compression codecs (delta-coded timestamps compress to
/// almost nothing), an n-gram index that lets substring searches skip
/// granules, a `time` column for people querying ClickHouse directly, and an
/// fsync of every inserted part: a worker commits its Kafka offsets once the
/// insert returns, so the rows must be on disk by then (one large insert a
/// second makes the fsync cheap). 18.16 has no such setting.
fn schema_for_modern_servers() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS logs (
            day         Date,
            ts          Int64 CODEC(Delta, ZSTD(1)),
            time        DateTime64(9) ALIAS fromUnixTimestamp64Nano(ts),
            id          String CODEC(ZSTD(1)),
            service     LowCardinality(String),
            level       {LEVEL_ENUM},
            message     String CODEC(ZSTD(3)),
            host        LowCardinality(Nullable(String)),
            trace_id    Nullable(String) CODEC(ZSTD(1)),
            span_id     Nullable(String) CODEC(ZSTD(1)),
            attr_keys   Array(LowCardinality(String)),
            attr_values Array(String) CODEC(ZSTD(1)),
            INDEX message_ngrams lowerUTF8(message) TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1
        ) ENGINE = MergeTree PARTITION BY day ORDER BY (ts, id)
        SETTINGS fsync_after_insert = 1, fsync_part_directory = 1"
    )
}

/// The first release with everything `schema_for_modern_servers` uses.
const MODERN_SINCE: (u32, u32) = (22, 3);

/// The DDL and dialect for a server version such as "18.16.1" or "26.9.1.1".
pub(crate) fn schema_for_version(version: &str) -> (String, Dialect) {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major_minor = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let modern = major_minor >= MODERN_SINCE;
    let schema = if modern {
        schema_for_modern_servers()
    } else {
        schema_for_every_server()
    };
    (schema, Dialect::ClickHouse { modern })
}

/// A record as inserted (RowBinary: Enum8 travels as its Int8, Date as days
/// since 1970 in a UInt16).
#[derive(Debug, Row, Serialize)]
struct InsertRow<'a> {
    day: u16,
    ts: i64,
    id: &'a str,
    service: &'a str,
    level: i8,
    message: &'a str,
    host: Option<&'a str>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    attr_keys: Vec<&'a str>,
    attr_values: Vec<&'a str>,
}

/// Idempotency keys, in a table of their own partitioned by the day they
/// were stored, so that forgetting them drops whole days as retention does.
/// The same DDL serves every server.
const KEYS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ingest_keys (
    day         Date,
    key         String,
    fingerprint String,
    ids         Array(String)
) ENGINE = MergeTree PARTITION BY day ORDER BY key";

const KEYS_TABLE: &str = "ingest_keys";

/// Days of keys kept besides today's: a key is remembered for at least 24
/// hours, as the embedded store remembers it.
const KEY_DAYS: u64 = 1;

#[derive(Debug, Row, Serialize)]
struct KeyRow<'a> {
    day: u16,
    key: &'a str,
    fingerprint: &'a str,
    ids: Vec<&'a str>,
}

#[derive(Debug, Row, Deserialize)]
struct KnownKeyRow {
    key: String,
    fingerprint: String,
    ids: Vec<String>,
}

/// A record as searches read it (`sql::RECORD_COLUMNS`).
#[derive(Debug, Row, Deserialize)]
struct RecordRow {
    ts: i64,
    id: String,
    service: String,
    level: i8,
    message: String,
    host: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
    attr_keys: Vec<String>,
    attr_values: Vec<String>,
}

/// A table's row, every column as text (the columns' types vary by query;
/// `ColumnRead` says how to read each).
#[derive(Debug, Row, Deserialize)]
struct CellsRow {
    cells: Vec<Option<String>>,
}

#[derive(Debug, Row, Deserialize)]
struct FacetRow {
    value: String,
    n: u64,
}

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The last day every server's `Date` holds: 18.16's ends on 2106-02-07
/// (later values wrap to 1970), newer servers' on 2149-06-06.
const LAST_DAY: u16 = 49_710;

/// The partition of a timestamp: its UTC day, clamped to what `Date` holds
/// everywhere (records before 1970 land in its first day and leave with it;
/// records after 2106-02-07 share that day).
fn day_of(ts_ns: i64) -> u16 {
    ts_ns.div_euclid(NANOS_PER_DAY).clamp(0, LAST_DAY.into()) as u16
}

/// Settings of every INSERT: a modern server refuses by default an insert
/// that touches more than 100 day partitions, which a batch of old logs (a
/// backfill) can; 18.16 has no such limit (and no such setting).
fn insert_settings(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    match dialect {
        Dialect::ClickHouse { modern: true } => &[("max_partitions_per_insert_block", "0")],
        _ => &[],
    }
}

fn level_from(number: i8) -> Result<Level> {
    u8::try_from(number)
        .ok()
        .and_then(Level::from_u8)
        .ok_or_else(|| StoreError::Corrupt(format!("level {number}")))
}

/// What ClickHouse says when a statement is past one of its limits on a
/// query's size, the setting that limit is, and its unit: a query of
/// thousands of words or clauses compiles to such a statement.
const SIZE_LIMITS: [(&str, &str, &str); 3] = [
    ("Max query size exceeded", "max_query_size", "bytes"),
    ("AST is too big", "max_ast_elements", "syntax tree elements"),
    ("AST is too deep", "max_ast_depth", "levels of nesting"),
];

/// The server's values of the [`SIZE_LIMITS`] settings, as
/// `(name, value)`, read when the store opens.
async fn size_limits(client: &Client) -> Vec<(String, String)> {
    let names = SIZE_LIMITS
        .map(|(_, name, _)| format!("'{name}'"))
        .join(", ");
    client
        .query(&format!(
            "SELECT name, value FROM system.settings WHERE name IN ({names})"
        ))
        .fetch_all()
        .await
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct ClickHouseStore {
    client: Client,
    /// `clickhouse://USER@HOST:PORT/DB`, without the password.
    described: String,
    dialect: Dialect,
    /// See [`size_limits`].
    size_limits: Vec<(String, String)>,
}

impl ClickHouseStore {
    /// Connects to `clickhouse://USER:PASS@HOST:PORT/DB` (HTTP port, 8123 by
    /// default), creating the database and table if missing.
    pub async fn open(url: &str) -> Result<ClickHouseStore> {
        let bad = |reason: String| StoreError::BadUrl {
            url: redact(url),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let host = parsed.host_str().ok_or_else(|| {
            bad("give the server, for example clickhouse://localhost:8123/logs".into())
        })?;
        let port = parsed.port().unwrap_or(8123);
        let database = parsed.path().trim_matches('/');
        let database = if database.is_empty() {
            "logstream"
        } else {
            database
        };
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(format!(
                "database name \"{database}\": use letters, digits and _"
            )));
        }
        let user = match parsed.username() {
            "" => "default",
            user => user,
        };
        let password = percent_decode(parsed.password().unwrap_or(""));
        let server = Client::default()
            .with_url(format!("http://{host}:{port}"))
            .with_user(percent_decode(user))
            .with_password(password)
            // 18.16 lacks RowBinaryWithNamesAndTypes, which validation needs.
            .with_validation(false);
        let unreachable = |e: clickhouse::error::Error| StoreError::ClickHouse(e.to_string());

        let version: String = server
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(unreachable)?;
        server
            .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
            .execute()
            .await
            .map_err(unreachable)?;
        let client = server.with_database(database);
        let (schema, dialect) = schema_for_version(&version);
        client.query(&schema).execute().await.map_err(unreachable)?;
        client
            .query(KEYS_SCHEMA)
            .execute()
            .await
            .map_err(unreachable)?;
        tracing::info!(%version, ?dialect, "ClickHouse store ready");
        Ok(ClickHouseStore {
            size_limits: size_limits(&client).await,
            client,
            described: format!("clickhouse://{user}@{host}:{port}/{database}"),
            dialect,
        })
    }

    /// The rows of a statement that a user's query compiled to. A query
    /// past the server's limits on a query's size is the user's to shorten
    /// ([`StoreError::QueryTooLarge`]), not a failure of the store.
    async fn fetch<T: clickhouse::RowOwned + clickhouse::RowRead>(
        &self,
        statement: (String, Vec<Param>),
    ) -> Result<Vec<T>> {
        self.statement(statement)
            .fetch_all()
            .await
            .map_err(|e| self.too_large(e.to_string()).unwrap_or_else(|| e.into()))
    }

    /// The error to answer for a server's `message` that a statement is
    /// past one of [`SIZE_LIMITS`], naming the limit.
    fn too_large(&self, message: String) -> Option<StoreError> {
        let (_, setting, unit) = SIZE_LIMITS
            .iter()
            .find(|(said, _, _)| message.contains(said))?;
        let value = self
            .size_limits
            .iter()
            .find(|(name, _)| name == setting)
            .map_or_else(String::new, |(_, value)| format!(" of {value} {unit}"));
        Some(StoreError::QueryTooLarge(format!(
            "the query is too large for the ClickHouse server: its SQL is past the server's \
             limit {setting}{value}; use fewer words or clauses"
        )))
    }

    /// The records a statement selects (its columns: `RECORD_COLUMNS`).
    async fn records(&self, statement: (String, Vec<Param>)) -> Result<Vec<LogRecord>> {
        let rows: Vec<RecordRow> = self.fetch(statement).await?;
        rows.into_iter()
            .map(|row| {
                Ok(LogRecord {
                    timestamp: Utc.timestamp_nanos(row.ts),
                    id: row.id,
                    service: row.service,
                    level: level_from(row.level)?,
                    message: row.message,
                    host: row.host,
                    trace_id: row.trace_id,
                    span_id: row.span_id,
                    attributes: row
                        .attr_keys
                        .into_iter()
                        .zip(row.attr_values)
                        .collect::<BTreeMap<_, _>>(),
                })
            })
            .collect()
    }

    /// Drops the day partitions of `table` before `first_kept`; returns them.
    async fn drop_partitions_before(
        &self,
        table: &str,
        first_kept: NaiveDate,
    ) -> Result<Vec<String>> {
        let old: Vec<String> = self
            .statement(partitions_before(table, first_kept))
            .fetch_all()
            .await?;
        for partition in &old {
            self.statement(drop_partition(table, partition))
                .execute()
                .await?;
        }
        Ok(old)
    }

    /// Remembers the keys (stored today) and forgets those of the days
    /// before `KEY_DAYS`.
    async fn remember_keys(&self, keys: &[IdempotencyKey]) -> Result<()> {
        let now = Utc::now();
        let today = day_of(now.timestamp_nanos_opt().unwrap_or(0));
        let mut insert = self.client.insert::<KeyRow<'_>>(KEYS_TABLE).await?;
        for key in keys {
            insert
                .write(&KeyRow {
                    day: today,
                    key: &key.key,
                    fingerprint: &key.fingerprint,
                    ids: key.ids.iter().map(String::as_str).collect(),
                })
                .await?;
        }
        insert.end().await?;
        let first_kept = now.date_naive() - chrono::Days::new(KEY_DAYS);
        self.drop_partitions_before(KEYS_TABLE, first_kept).await?;
        Ok(())
    }

    fn statement(&self, compiled: (String, Vec<Param>)) -> clickhouse::query::Query {
        bind(&self.client, compiled)
    }
}

/// A compiled statement with its parameters bound (the crate escapes each
/// value into a literal; nothing of the user's is spliced in raw).
fn bind(client: &Client, (sql, params): (String, Vec<Param>)) -> clickhouse::query::Query {
    params
        .into_iter()
        .fold(client.query(&sql), |query, param| match param {
            Param::Int(i) => query.bind(i),
            Param::Float(x) => query.bind(x),
            Param::Text(s) => query.bind(s),
        })
}

/// The day partitions before `first_kept`, oldest first. Partition ids are
/// the days as YYYYMMDD, so text order is day order.
fn partitions_before(table: &str, first_kept: NaiveDate) -> (String, Vec<Param>) {
    let sql = "SELECT DISTINCT partition_id FROM system.parts \
               WHERE database = currentDatabase() AND table = ? AND active AND partition_id < ? \
               ORDER BY partition_id";
    (
        sql.into(),
        vec![
            Param::Text(table.into()),
            Param::Text(first_kept.format("%Y%m%d").to_string()),
        ],
    )
}

/// `table` is one of this module's own names, never the user's.
fn drop_partition(table: &str, partition_id: &str) -> (String, Vec<Param>) {
    (
        format!("ALTER TABLE {table} DROP PARTITION ID ?"),
        vec![Param::Text(partition_id.into())],
    )
}

/// The exact SQL this store sends to a server of a given version, with the
/// parameters bound: lets tests run it on other ClickHouse engines (chdb).
#[derive(Debug)]
pub struct SqlFor {
    schema: String,
    dialect: Dialect,
}

impl SqlFor {
    pub fn version(version: &str) -> SqlFor {
        let (schema, dialect) = schema_for_version(version);
        SqlFor { schema, dialect }
    }

    /// Whether the version gets the newer-server schema and queries.
    pub fn is_modern(&self) -> bool {
        self.dialect == Dialect::ClickHouse { modern: true }
    }

    /// `CREATE TABLE IF NOT EXISTS logs …` (run in the store's database).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The columns inserts fill, in order (RowBinary over HTTP).
    pub fn insert_columns() -> &'static [&'static str] {
        &[
            "day",
            "ts",
            "id",
            "service",
            "level",
            "message",
            "host",
            "trace_id",
            "span_id",
            "attr_keys",
            "attr_values",
        ]
    }

    /// Settings sent with every INSERT (`INSERT … SETTINGS name = value`).
    pub fn insert_settings(&self) -> &'static [(&'static str, &'static str)] {
        insert_settings(self.dialect)
    }

    /// The partition (`Date`, as days since 1970) a record is inserted into.
    pub fn day_of(record: &LogRecord) -> u16 {
        day_of(record.timestamp_nanos())
    }

    pub fn search(&self, request: &SearchRequest) -> String {
        self.display(sql::search_sql(self.dialect, request))
    }

    /// A table query's statement, and how to read its rows.
    pub fn table(&self, request: &TableRequest) -> (String, TableReader) {
        let (statement, reader) = table_statement(self.dialect, request);
        (self.display(statement), reader)
    }

    /// Retention's first step: which day partitions are older.
    pub fn partitions_before(&self, first_kept: NaiveDate) -> String {
        self.display(partitions_before("logs", first_kept))
    }

    /// Retention's second step, for each of those.
    pub fn drop_partition(&self, partition_id: &str) -> String {
        self.display(drop_partition("logs", partition_id))
    }

    fn display(&self, compiled: (String, Vec<Param>)) -> String {
        bind(&Client::default(), compiled).sql_display().to_string()
    }
}

/// A table's statement as this store sends it: every column as text in one
/// array (the columns' types vary by query, a row type cannot), and how to
/// read those texts back.
fn table_statement(
    dialect: Dialect,
    request: &TableRequest,
) -> ((String, Vec<Param>), TableReader) {
    let compiled = sql::table_sql(dialect, request);
    let texts: Vec<String> = (0..compiled.reads.len())
        // Nullable whatever each column is, so every row has one type.
        .map(|i| format!("toNullable(toString(c{i}))"))
        .collect();
    let sql = format!(
        "SELECT [{}] AS cells FROM ({})",
        texts.join(", "),
        compiled.sql
    );
    let reader = TableReader {
        query: request.selection.query.clone(),
        reads: compiled.reads,
        limit: compiled.limit,
    };
    ((sql, compiled.params), reader)
}

/// Reads the rows of [`SqlFor::table`]'s statement into the table.
#[derive(Debug)]
pub struct TableReader {
    query: logstream_shared::Query,
    reads: Vec<ColumnRead>,
    limit: usize,
}

impl TableReader {
    /// Each row: its `cells` array.
    pub fn table(&self, rows: Vec<Vec<Option<String>>>) -> Result<Table> {
        let rows = rows
            .into_iter()
            .map(|cells| {
                cells
                    .into_iter()
                    .zip(&self.reads)
                    .map(|(text, read)| cell_from_text(text, *read))
                    .collect()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(super::table_of(&self.query, rows, self.limit))
    }
}

fn cell_from_text(text: Option<String>, read: ColumnRead) -> Result<Cell> {
    let Some(text) = text else {
        return Ok(Cell::Null);
    };
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{text:?}: {e}"));
    Ok(match read {
        ColumnRead::Text => Cell::Text(text),
        ColumnRead::Int => Cell::Int(text.parse().map_err(|e| corrupt(&e))?),
        ColumnRead::Float => match text.as_str() {
            "nan" | "inf" | "-inf" => Cell::Null,
            _ => Cell::Float(text.parse().map_err(|e| corrupt(&e))?),
        },
        ColumnRead::Time => Cell::Time(text.parse().map_err(|e| corrupt(&e))?),
        ColumnRead::Level => super::level_cell(Some(text.parse().map_err(|e| corrupt(&e))?))?,
    })
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(error: clickhouse::error::Error) -> StoreError {
        StoreError::ClickHouse(error.to_string())
    }
}

#[async_trait]
impl Store for ClickHouseStore {
    fn describe(&self) -> String {
        self.described.clone()
    }

    async fn insert(&self, records: &[LogRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        // An INSERT becomes one part per day it touches, each all or
        // nothing. Should the server fail between parts, a retry stores
        // the finished days again: a duplicate, never a loss.
        let mut insert = self.client.insert::<InsertRow<'_>>("logs").await?;
        for (name, value) in insert_settings(self.dialect) {
            insert = insert.with_setting(*name, *value);
        }
        for r in records {
            let ts = r.timestamp_nanos();
            insert
                .write(&InsertRow {
                    day: day_of(ts),
                    ts,
                    id: &r.id,
                    service: &r.service,
                    level: r.level.as_u8() as i8,
                    message: &r.message,
                    host: r.host.as_deref(),
                    trace_id: r.trace_id.as_deref(),
                    span_id: r.span_id.as_deref(),
                    attr_keys: r.attributes.keys().map(String::as_str).collect(),
                    attr_values: r.attributes.values().map(String::as_str).collect(),
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// The records first, then their keys: ClickHouse has no transaction
    /// over both, and should the second insert fail, the retry stores the
    /// records again (a duplicate) where the other order would leave keys
    /// of records never stored (a loss).
    async fn insert_keyed(&self, records: &[LogRecord], keys: &[IdempotencyKey]) -> Result<()> {
        self.insert(records).await?;
        if !keys.is_empty() {
            self.remember_keys(keys).await?;
        }
        Ok(())
    }

    async fn known_keys(&self, keys: &[String]) -> Result<HashMap<String, KnownKey>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT key, fingerprint, ids FROM {KEYS_TABLE} WHERE key IN ({})",
            sql::placeholders(keys.len())
        );
        let params = keys.iter().cloned().map(Param::Text).collect();
        let rows: Vec<KnownKeyRow> = self.statement((sql, params)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let known = KnownKey {
                    fingerprint: row.fingerprint,
                    ids: Some(row.ids),
                };
                (row.key, known)
            })
            .collect())
    }

    async fn search(&self, request: SearchRequest) -> Result<SearchPage> {
        let records = self
            .records(sql::search_sql(self.dialect, &request))
            .await?;
        Ok(SearchPage::of(records, request.limit))
    }

    async fn record(&self, id: &str, at_ns: Option<i64>) -> Result<Option<LogRecord>> {
        Ok(self.records(sql::record_sql(id, at_ns)).await?.pop())
    }

    async fn table(&self, request: TableRequest) -> Result<Table> {
        let (statement, reader) = table_statement(self.dialect, &request);
        let rows: Vec<CellsRow> = self.fetch(statement).await?;
        reader.table(rows.into_iter().map(|row| row.cells).collect())
    }

    async fn attribute_names(&self, selection: Selection, limit: usize) -> Result<Vec<FacetCount>> {
        let compiled = sql::attribute_names_sql(self.dialect, &selection, limit);
        let rows: Vec<FacetRow> = self.fetch(compiled).await?;
        Ok(rows
            .into_iter()
            .map(|row| FacetCount {
                value: row.value,
                count: row.n,
            })
            .collect())
    }

    async fn drop_days_before(&self, first_kept: NaiveDate) -> Result<()> {
        for partition in self.drop_partitions_before("logs", first_kept).await? {
            tracing::info!(day = %partition, "retention: dropped a day of logs");
        }
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        self.client.query("SELECT 1").execute().await?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_choose_the_schema() {
        assert_eq!(
            schema_for_version("18.16.1").1,
            Dialect::ClickHouse { modern: false }
        );
        assert_eq!(
            schema_for_version("22.2.3.5").1,
            Dialect::ClickHouse { modern: false }
        );
        assert_eq!(
            schema_for_version("22.3.1").1,
            Dialect::ClickHouse { modern: true }
        );
        assert_eq!(
            schema_for_version("26.9.1.1").1,
            Dialect::ClickHouse { modern: true }
        );
        assert_eq!(
            schema_for_version("garbage").1,
            Dialect::ClickHouse { modern: false }
        );
    }

    #[test]
    fn days_are_utc_and_clamped() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(NANOS_PER_DAY - 1), 0);
        assert_eq!(day_of(NANOS_PER_DAY), 1);
        assert_eq!(day_of(-1), 0);
        assert_eq!(day_of(i64::MAX), LAST_DAY);
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("clickhouse://logs:s3cret@db:8123/logs"),
            "clickhouse://logs:***@db:8123/logs"
        );
    }
}
