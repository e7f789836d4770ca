//! HTTP request and response bodies, shared by the daemon and its clients.

use serde::{Deserialize, Serialize};

use crate::{FieldError, LogRecord};

/// The most records `GET /api/logs` returns in one page.
pub const MAX_PAGE_SIZE: usize = 10_000;
/// Records per page when the request names no limit.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The most records one `POST /api/ingest` may carry.
pub const MAX_BATCH_RECORDS: usize = 10_000;

/// The most problems the `details` of one error answer list; its `error`
/// says how many there were in all.
pub const MAX_ERROR_DETAILS: usize = 100;

/// One record as `POST /api/ingest` takes it (what `record_from_json`
/// reads): the form clients send and the OpenAPI document describes. Any
/// other top-level field becomes an attribute too.
///
/// The schema's patterns say what `validate` checks:
/// no control characters (Unicode's Cc: U+0000 to U+001F, U+007F to
/// U+009F) in the names people see, and a service and message that are not
/// blank. Lengths are in bytes, which JSON Schema cannot count.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestRecord {
    /// 1 to 128 bytes, no control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub service: String,
    /// Up to 64 KiB, not blank.
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S"))]
    pub message: String,
    /// TRACE, DEBUG, INFO (the default), WARN, ERROR or FATAL, in any case,
    /// or an alias: verbose, dbg, information, notice, warning, err,
    /// critical, crit, alert, emerg, panic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::Level))]
    pub level: Option<String>,
    /// RFC 3339 (between the years 1678 and 2262), or a Unix epoch number in
    /// seconds, milliseconds, microseconds or nanoseconds (told apart by
    /// size); default: the time received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = timestamp_schema))]
    pub timestamp: Option<serde_json::Value>,
    /// Up to 256 bytes, like `host`, `trace_id` and `span_id`, without
    /// control characters; default: a new UUIDv7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub host: Option<String>,
    /// Also read as `traceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub trace_id: Option<String>,
    /// Also read as `spanId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub span_id: Option<String>,
    /// At most 64 keys of 1 to 128 bytes without control characters;
    /// values up to 8 KiB. Non-string values keep their JSON text. Also
    /// read as `metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// An RFC 3339 time or an epoch number.
#[cfg(feature = "openapi")]
fn timestamp_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{
        KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
    };
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)));
    let epoch = ObjectBuilder::new().schema_type(Type::Number);
    Schema::OneOf(OneOfBuilder::new().item(text).item(epoch).build())
}

/// `202 Accepted` from `POST /api/ingest`: the records are durable.
/// A single object gets `id`; a batch gets `accepted` and `ids` in input order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestAccepted {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub accepted: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

/// The body of every error response.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

/// Query parameters of `GET /api/logs`.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchParams {
    /// The query language (see `query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Oldest time included: RFC 3339 or relative like `15m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Newest time excluded: RFC 3339 or relative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page: this page continues past it, in
    /// `direction`. With `direction=forward` it may also be a backward
    /// page's `prev_cursor`, to read what is newer than that page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// `backward` (the default: newest first, each next page older) or
    /// `forward` (oldest first, each next page newer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub direction: Option<Direction>,
    /// Seed-style shortcuts, combined with `q`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// Which way the records of `GET /api/logs` run, and its pages with them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Newest first; each next page is older.
    #[default]
    Backward,
    /// Oldest first; each next page is newer.
    Forward,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::Backward => Direction::Forward,
            Direction::Forward => Direction::Backward,
        }
    }
}

/// A page of records, newest first (oldest first with `direction=forward`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsPage {
    pub status: String,
    /// How many records `data` holds (the seed's name for it).
    pub result: usize,
    pub data: Vec<LogRecord>,
    /// Pass as `cursor` for the next page in the same direction; absent on
    /// the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The position of the page's first record: pass it as `cursor` with the
    /// other `direction` to read the records on the page's other side
    /// (what is newer than a backward page, say, as new records arrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_cursor: Option<String>,
}

/// The answer of `GET /api/logs` to a query with `stats`, `top` or
/// `fields`: a table, typed by its columns.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TablePage {
    pub status: String,
    /// How many rows `rows` holds.
    pub result: usize,
    pub columns: Vec<Column>,
    /// One value per column: text, a number, an RFC 3339 time, or null.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than the limit let through.
    #[serde(default)]
    pub truncated: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: crate::query::ColumnKind,
}

/// Query parameters of `GET /api/logs/{id}/context`.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextParams {
    /// Records before the record (default [`DEFAULT_CONTEXT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<usize>,
    /// Records after it (default [`DEFAULT_CONTEXT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<usize>,
    /// The record's `timestamp` (RFC 3339), when the caller has it: the
    /// stores find a record by its time far faster than by its id alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Records of context on each side when the request names no number.
pub const DEFAULT_CONTEXT: usize = 5;
/// The most records of context on one side.
pub const MAX_CONTEXT: usize = 1_000;

/// A record and its neighbours from the same service (and the same host,
/// when it has one), like `grep -C` around a line. Both lists are oldest
/// first: `before`, `record`, `after` read in time order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextPage {
    pub status: String,
    pub record: LogRecord,
    pub before: Vec<LogRecord>,
    pub after: Vec<LogRecord>,
}

/// What `GET /api/logs` answers: records, or a table (told apart by `columns`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogsAnswer {
    Table(TablePage),
    Records(LogsPage),
}

/// `GET /api/health`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// The store's path or URL; shown only to readers once tokens are
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// What is wrong, when `status` is not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Query parameters of `GET /api/stats/histogram`.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Default: one hour before `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Bucket width such as `10s`, `1m`, `1h`; default: about 60 buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// Counts per time bucket and level; every bucket of the range is present.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    pub status: String,
    /// The bucket width, like `1m`.
    pub step: String,
    pub buckets: Vec<HistogramBucket>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBucket {
    pub start: chrono::DateTime<chrono::Utc>,
    pub total: u64,
    /// Only levels with records in the bucket.
    pub counts: std::collections::BTreeMap<crate::Level, u64>,
}

/// Query parameters of `GET /api/stats/facets`.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// `service`, `level`, `host`, any other field, or an attribute
    /// (`attr.path` or `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// How many values, most frequent first (default 10, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Query parameters of `GET /api/fields`.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// How many names, most frequent first (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `GET /api/fields`: the attribute names of the matching records, with
/// how many records have each, most frequent first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldList {
    pub status: String,
    pub fields: Vec<FieldCount>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCount {
    pub name: String,
    pub count: u64,
}

/// The most frequent values of a field among matching records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    pub status: String,
    pub field: String,
    pub values: Vec<FacetValue>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

/// Query parameters of `GET /api/tail`, a Server-Sent Events stream of the
/// records that match `q`, in the order the daemon stored them.
///
/// Each record is one event `record` whose `data` is the record's JSON and
/// whose `id` is a resume cursor. A client that reconnects with the header
/// `Last-Event-ID` (or `cursor=`) set to the last id it saw gets every
/// matching record after it, once. Without a cursor the stream starts with
/// the records stored since `since` (default: only new ones).
///
/// When a client falls too far behind, the daemon sends one event `lagged`
/// (`data`: a [`TailLagged`]) and ends the stream; the client reconnects from
/// its last id. Comment lines keep idle connections open.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The SSE event name of a record in `GET /api/tail`.
pub const TAIL_RECORD_EVENT: &str = "record";
/// The SSE event name that ends a stream whose client fell behind.
pub const TAIL_LAGGED_EVENT: &str = "lagged";

/// `data` of the `lagged` event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailLagged {
    pub error: String,
    /// Where to resume: the id of the last record sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}
