//! Loki push: `POST /loki/api/v1/push`, what Promtail, Alloy, Vector's and
//! Fluent Bit's `loki` outputs and the Loki client libraries send:
//! - protobuf `logproto.PushRequest` compressed with snappy's block format
//!   (`application/x-protobuf`; with or without `Content-Encoding: snappy`),
//! - JSON `{"streams":[{"stream":{labels},"values":[["<ns>","line",{metadata}]]}]}`
//!   (`application/json`, optionally gzip).
//!
//! Label `service_name`, `service`, `app` or `job` (the first present) is the
//! service, `level`, `detected_level` or `severity` the level, `host` or
//! `hostname` the host; structured metadata `trace_id` and `span_id` the
//! trace ids; every other label and structured metadata entry an attribute.
//! Success is `204 No Content` (clients count 200 as a failure). Entries
//! that cannot be taken are named in a `400` with a plain-text body, as
//! Loki answers, while the other entries of the request are stored.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeZone, Utc};
use logstream_shared::record::{UNKNOWN_SERVICE, fit_to_limits};
use logstream_shared::{Level, LogRecord};
use prost::Message as _;
use serde::Deserialize;

use super::{
    ApiError, AppState, MEMORY_PER_BODY_BYTE, RecordMemory, Rejected, Rejections, media_type,
    read_body, submit,
};
use crate::ingest::layouts::{self, Given};
use crate::proto::{each_embedded, logproto};

const SERVICE_LABELS: [&str; 4] = ["service_name", "service", "app", "job"];
const LEVEL_LABELS: [&str; 3] = ["level", "detected_level", "severity"];
const HOST_LABELS: [&str; 2] = ["host", "hostname"];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/loki/api/v1/push", post(push))
        // Vector's `loki` sink checks this before it sends.
        .route("/ready", get(crate::api::health::ready))
}

async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    match take(&state, &headers, body).await {
        Ok(rejected) if rejected.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(rejected) => ApiError::bad_request(Rejected::summary(&rejected))
            .render_as("text/plain; charset=utf-8", |_, message| {
                message.as_bytes().to_vec()
            }),
        Err(e) => e.render_as("text/plain; charset=utf-8", |_, message| {
            format!("{message}\n").into_bytes()
        }),
    }
}

/// Stores what the request holds; the entries that could not be taken.
async fn take(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Rejections, ApiError> {
    let is_json = media_type(headers) == "application/json";
    // Protobuf is snappy-compressed whether or not the header says so.
    let own_encodings: &[&str] = if is_json { &[] } else { &["snappy"] };
    let mut body = read_body(state, headers, body, own_encodings).await?;
    let received = Utc::now();
    let limit = state.limits.max_body_bytes;
    let bytes = body.bytes.clone();
    let mut memory = body.record_memory(state);
    let streams = if is_json {
        json_streams(&bytes)?
    } else {
        protobuf_streams(&bytes, limit, &mut memory)?
    };
    let (records, rejected) = records_of(streams, received, state.detect_layouts, &mut memory)?;
    if !records.is_empty() {
        submit(state, headers, &body.bytes, records).await?;
    }
    Rejected::count(state, rejected.total);
    Ok(rejected)
}

/// One stream as either encoding gives it: labels, then entries.
pub(super) struct Stream {
    labels: Vec<(String, String)>,
    entries: Entries,
}

enum Entries {
    /// Each entry, or why it cannot be taken.
    Each(Vec<Result<Entry, String>>),
    /// `count` entries that all cannot be taken, for one reason (held once,
    /// not once per entry: the stream's labels may be long, its entries many).
    Refused { reason: String, count: usize },
}

struct Entry {
    nanos: Option<i64>,
    line: String,
    metadata: Vec<(String, String)>,
}

/// The streams of a snappy-compressed protobuf body; the decompressed body
/// (at most `limit` bytes) is charged to `memory` as a body of that size,
/// and its entries as they will be decoded.
pub(super) fn protobuf_streams(
    body: &[u8],
    limit: usize,
    memory: &mut RecordMemory,
) -> Result<Vec<Stream>, ApiError> {
    let length = snap::raw::decompress_len(body).map_err(|e| {
        ApiError::bad_request(format!("body is not snappy-compressed protobuf: {e}"))
    })?;
    if length > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the snappy body would decompress to {length} bytes; at most {limit} are accepted"
        )));
    }
    // Snappy's densest element, a three-byte copy of 64 bytes, bounds what
    // a body can decompress to: a header that claims more is a lie, told to
    // make the daemon allocate.
    if length > body.len() * 22 {
        return Err(ApiError::bad_request(format!(
            "body is not valid snappy: {} bytes cannot decompress to the {length} its header claims",
            body.len()
        )));
    }
    memory.charge_bytes(length * MEMORY_PER_BODY_BYTE)?;
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| ApiError::bad_request(format!("body is not valid snappy: {e}")))?;
    // An empty entry takes two bytes on the wire, fifty times that decoded.
    let mut entries = 0;
    each_embedded(&raw, 1, |stream| each_embedded(stream, 2, |_| entries += 1));
    memory.charge_bytes(entries * std::mem::size_of::<logproto::EntryAdapter>())?;
    let request = logproto::PushRequest::decode(raw.as_slice()).map_err(|e| {
        ApiError::bad_request(format!("body is not a Loki PushRequest in protobuf: {e}"))
    })?;
    let streams = request.streams.into_iter().map(|stream| {
        match parse_labels(&stream.labels) {
            Ok(labels) => Stream {
                labels,
                entries: Entries::Each(stream.entries.into_iter().map(protobuf_entry).collect()),
            },
            // Without its labels an entry has no service: each is rejected.
            Err(reason) => Stream {
                labels: Vec::new(),
                entries: Entries::Refused {
                    reason,
                    count: stream.entries.len(),
                },
            },
        }
    });
    Ok(streams.collect())
}

fn protobuf_entry(entry: logproto::EntryAdapter) -> Result<Entry, String> {
    let nanos = entry
        .timestamp
        .map(|t| timestamp_nanos(t.seconds, t.nanos))
        .transpose()?;
    Ok(Entry {
        nanos,
        line: entry.line,
        metadata: entry
            .structured_metadata
            .into_iter()
            .map(|pair| (pair.name, pair.value))
            .collect(),
    })
}

fn timestamp_nanos(seconds: i64, nanos: i32) -> Result<i64, String> {
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(i64::from(nanos)))
        .ok_or_else(|| format!("timestamp {seconds}s is outside the years 1678 to 2262"))
}

/// A Loki push request in JSON.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LokiPush)]
pub(in crate::api) struct JsonPush {
    streams: Vec<JsonStream>,
}

/// One stream: its labels and its entries.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LokiStream)]
struct JsonStream {
    /// Labels: `service_name` (or `service`, `app`, `job`) names the
    /// service, `level` (or `detected_level`, `severity`) the level,
    /// `host` (or `hostname`) the host.
    #[serde(default)]
    stream: BTreeMap<String, String>,
    /// Entries: `["<unix epoch in nanoseconds>", "line"]`, optionally with
    /// an object of structured metadata third.
    #[serde(default)]
    values: Vec<serde_json::Value>,
}

pub(super) fn json_streams(body: &[u8]) -> Result<Vec<Stream>, ApiError> {
    let push: JsonPush = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "body is not a Loki push in JSON ({{\"streams\":[{{\"stream\":{{…}},\"values\":[[\"<unix ns>\",\"line\"]]}}]}}): {e}"
        ))
    })?;
    let streams = push.streams.into_iter().map(|stream| Stream {
        labels: stream.stream.into_iter().collect(),
        entries: Entries::Each(stream.values.into_iter().map(json_entry).collect()),
    });
    Ok(streams.collect())
}

/// `["<unix ns>", "line"]` or `["<unix ns>", "line", {"key": "value"}]`.
fn json_entry(value: serde_json::Value) -> Result<Entry, String> {
    use serde_json::Value;
    const FORM: &str = "expected [\"<unix epoch in nanoseconds>\", \"line\"] with an optional object of structured metadata";
    let Value::Array(parts) = value else {
        return Err(format!("an entry is not an array; {FORM}"));
    };
    let mut parts = parts.into_iter();
    let nanos = match parts.next() {
        Some(Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("timestamp \"{text}\" is not a whole number of nanoseconds"))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("timestamp {n} is not a whole number of nanoseconds"))?,
        _ => return Err(FORM.to_string()),
    };
    let Some(Value::String(line)) = parts.next() else {
        return Err(format!("the line is not a string; {FORM}"));
    };
    let metadata = match parts.next() {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Some(_) => return Err(format!("structured metadata is not an object; {FORM}")),
    };
    Ok(Entry {
        nanos: Some(nanos),
        line,
        metadata,
    })
}

/// Records of every entry, numbered across the request's streams; with
/// `detect_layouts`, an entry without a level label takes the level its line
/// carries (see `crate::ingest::layouts`). Each record is charged to
/// `memory` as it is made: a request whose records would take too much is
/// refused part way.
pub(super) fn records_of(
    streams: Vec<Stream>,
    received: DateTime<Utc>,
    detect_layouts: bool,
    memory: &mut RecordMemory,
) -> Result<(Vec<LogRecord>, Rejections), ApiError> {
    let mut records = Vec::new();
    let mut rejected = Rejections::default();
    let mut index = 0;
    for stream in streams {
        let (base, labelled) = stream_base(&stream.labels);
        match stream.entries {
            Entries::Each(entries) => {
                for entry in entries {
                    match entry {
                        Ok(entry) => {
                            let (mut record, given) = record_of(&base, entry, received);
                            if detect_layouts {
                                let level = labelled || given.level;
                                layouts::complete(&mut record, Given { level, ..given });
                            }
                            memory.charge(&record)?;
                            records.push(record);
                        }
                        Err(reason) => rejected.push(Rejected { index, reason }),
                    }
                    index += 1;
                }
            }
            Entries::Refused { reason, count } => {
                for _ in 0..count {
                    rejected.push_with(|| Rejected {
                        index,
                        reason: reason.clone(),
                    });
                    index += 1;
                }
            }
        }
    }
    Ok((records, rejected))
}

/// What a stream's labels give each of its entries, and whether they gave
/// a level.
fn stream_base(labels: &[(String, String)]) -> (LogRecord, bool) {
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| labels.iter().find(|(k, v)| k == name && !v.is_empty()))
    };
    let service = find(&SERVICE_LABELS);
    let level = find(&LEVEL_LABELS).and_then(|(k, v)| v.parse::<Level>().ok().map(|l| (k, l)));
    let host = find(&HOST_LABELS);
    let taken = [
        service.map(|(k, _)| k),
        level.map(|(k, _)| k),
        host.map(|(k, _)| k),
    ];
    let base = LogRecord {
        id: String::new(),
        timestamp: Utc::now(),
        service: service.map_or(UNKNOWN_SERVICE.to_string(), |(_, v)| v.clone()),
        level: level.map_or(Level::Info, |(_, l)| l),
        message: String::new(),
        host: host.map(|(_, v)| v.clone()),
        trace_id: None,
        span_id: None,
        attributes: labels
            .iter()
            .filter(|(k, _)| !taken.contains(&Some(k)))
            .cloned()
            .collect(),
    };
    (base, level.is_some())
}

/// An entry's record, and whether the entry gave its time and a level.
fn record_of(base: &LogRecord, entry: Entry, received: DateTime<Utc>) -> (LogRecord, Given) {
    let mut record = base.clone();
    let mut given = Given {
        level: false,
        time: entry.nanos.is_some(),
    };
    record.id = uuid::Uuid::now_v7().to_string();
    record.timestamp = entry.nanos.map_or(received, |n| Utc.timestamp_nanos(n));
    record.message = entry.line;
    for (key, value) in entry.metadata {
        match key.as_str() {
            "trace_id" | "traceID" | "traceId" => record.trace_id = Some(value),
            "span_id" | "spanID" | "spanId" => record.span_id = Some(value),
            // An entry's own level (often a copy of the stream's label).
            name if LEVEL_LABELS.contains(&name) && value.parse::<Level>().is_ok() => {
                record.level = value.parse().unwrap_or(record.level);
                given.level = true;
            }
            _ => {
                record.attributes.insert(key, value);
            }
        }
    }
    fit_to_limits(&mut record);
    (record, given)
}

/// A Prometheus label set as Loki's protobuf carries it:
/// `{app="api", level="error"}` (values escape `\"`, `\\` and `\n`).
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    // Labels may be as long as the body: the reason quotes their start.
    let start: String = text.chars().take(100).collect();
    let cut = if start.len() < text.len() { "…" } else { "" };
    let bad = |what: &str| {
        format!("labels {start:?}{cut} are not of the form {{name=\"value\", …}}: {what}")
    };
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("no braces"))?;
    let mut labels = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| bad("a label has no ="))?;
        let name = name.trim();
        let after = after
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| bad("a value is not quoted"))?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(bad("a value ends in \\")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(bad("a value has no closing quote")),
            }
        };
        labels.push((name.to_string(), value));
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::super::with_record_memory;
    use super::*;

    #[test]
    fn labels_parse_with_escapes() {
        assert_eq!(
            parse_labels(r#"{app="api", msg="say \"hi\"\n", empty=""}"#).unwrap(),
            vec![
                ("app".to_string(), "api".to_string()),
                ("msg".to_string(), "say \"hi\"\n".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert_eq!(parse_labels("{}").unwrap(), vec![]);
        assert!(parse_labels("app=api").is_err());
        assert!(parse_labels(r#"{app="api}"#).is_err());
    }

    #[test]
    fn labels_choose_service_level_and_host() {
        let labels: Vec<(String, String)> = [
            ("job", "j"),
            ("app", "a"),
            ("severity", "warning"),
            ("hostname", "h"),
            ("env", "prod"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (base, labelled) = stream_base(&labels);
        assert!(labelled);
        assert_eq!(base.service, "a");
        assert_eq!(base.level, Level::Warn);
        assert_eq!(base.host.as_deref(), Some("h"));
        let keys: Vec<_> = base.attributes.keys().collect();
        assert_eq!(keys, ["env", "job"]);
    }

    #[test]
    fn bad_json_entries_are_rejected_alone() {
        let body = br#"{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","ok"],["soon","bad"],["1700000000000000001","meta",{"trace_id":"t1","k":"v"}]]}]}"#;
        let streams = json_streams(body).unwrap();
        let (records, rejected) = with_record_memory(1 << 20, |memory| {
            records_of(streams, Utc::now(), true, memory).unwrap()
        });
        assert_eq!(records.len(), 2);
        assert_eq!(rejected.total, 1);
        assert_eq!(rejected.kept[0].index, 1);
        assert!(
            rejected.kept[0].reason.contains("\"soon\""),
            "{}",
            rejected.kept[0].reason
        );
        assert_eq!(records[1].trace_id.as_deref(), Some("t1"));
        assert_eq!(records[1].attributes["k"], "v");
    }
}
