//! OTLP/HTTP logs: `POST /v1/logs`, protobuf (`application/x-protobuf`) or
//! OTLP's JSON mapping (`application/json`: ids in hex, 64-bit numbers as
//! decimal strings), what the OpenTelemetry SDKs and the Collector send.
//!
//! The answer is an `ExportLogsServiceResponse` in the request's encoding;
//! records that could not be taken are counted in its `partial_success`, the
//! others are stored. Errors carry a `google.rpc.Status`, as OTLP asks, with
//! 429/503 and `Retry-After` when the pipeline is full or the store is down
//! (the exporters retry those).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use logstream_shared::record::fit_to_limits;
use logstream_shared::{Level, LogRecord};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpRecord;
use prost::Message as _;

use super::{
    ApiError, AppState, RecordMemory, Rejected, Rejections, hex, media_type, read_body, submit,
};
use crate::ingest::layouts::{self, Given};
use crate::proto::each_embedded;

/// The service of records whose resource names none, as the OpenTelemetry
/// specification has it.
const UNKNOWN_SERVICE: &str = "unknown_service";

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/logs", post(export))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let encoding = match media_type(&headers).as_str() {
        "application/json" => Encoding::Json,
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        other => {
            let error = ApiError::UnsupportedMediaType(format!(
                "OTLP/HTTP takes application/x-protobuf or application/json, not \"{other}\""
            ));
            return error_answer(Encoding::Protobuf, error);
        }
    };
    match take(&state, &headers, body, encoding).await {
        Ok(answer) => success_answer(encoding, &answer),
        Err(e) => error_answer(encoding, e),
    }
}

/// Reads, maps and stores the request's records.
async fn take(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
    encoding: Encoding,
) -> Result<ExportLogsServiceResponse, ApiError> {
    let mut body = read_body(state, headers, body, &[]).await?;
    let bytes = body.bytes.clone();
    let mut memory = body.record_memory(state);
    let request = decode(encoding, &bytes, &mut memory)?;
    let (records, rejected) = records_of(request, Utc::now(), state.detect_layouts, &mut memory)?;
    if !records.is_empty() {
        submit(state, headers, &body.bytes, records).await?;
    }
    Rejected::count(state, rejected.total);
    let partial_success = (!rejected.is_empty()).then(|| ExportLogsPartialSuccess {
        rejected_log_records: rejected.total as i64,
        error_message: Rejected::summary(&rejected),
    });
    Ok(ExportLogsServiceResponse { partial_success })
}

/// The request a body holds. Its log records are charged to `memory`
/// before it is decoded: an empty record takes two bytes on the wire and a
/// hundred times that decoded.
pub(super) fn decode(
    encoding: Encoding,
    body: &[u8],
    memory: &mut RecordMemory,
) -> Result<ExportLogsServiceRequest, ApiError> {
    memory.charge_bytes(records_in(encoding, body) * std::mem::size_of::<OtlpRecord>())?;
    match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| {
            ApiError::bad_request(format!(
                "body is not an OTLP ExportLogsServiceRequest in protobuf: {e}"
            ))
        }),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "body is not an OTLP ExportLogsServiceRequest in JSON: {e}"
            ))
        }),
    }
}

/// How many log records the body holds: counted on the wire in protobuf
/// (`resource_logs` = 1, `scope_logs` = 2, `log_records` = 2); in JSON at
/// most one per `{`.
fn records_in(encoding: Encoding, body: &[u8]) -> usize {
    match encoding {
        Encoding::Protobuf => {
            let mut records = 0;
            each_embedded(body, 1, |resource_logs| {
                each_embedded(resource_logs, 2, |scope_logs| {
                    each_embedded(scope_logs, 2, |_| records += 1);
                });
            });
            records
        }
        Encoding::Json => body.iter().filter(|b| **b == b'{').count(),
    }
}

fn success_answer(encoding: Encoding, answer: &ExportLogsServiceResponse) -> Response {
    let content_type = [(header::CONTENT_TYPE, encoding.content_type())];
    match encoding {
        Encoding::Protobuf => {
            (StatusCode::OK, content_type, answer.encode_to_vec()).into_response()
        }
        // Without rejections the answer is `{}`, not `{"partialSuccess":null}`.
        Encoding::Json if answer.partial_success.is_none() => {
            (StatusCode::OK, Json(serde_json::json!({}))).into_response()
        }
        Encoding::Json => (StatusCode::OK, Json(answer)).into_response(),
    }
}

/// `google.rpc.Status`, the body of an OTLP error answer (fields as in
/// `google/rpc/status.proto`; `details` is never sent).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, utoipa::ToSchema)]
#[schema(as = OtlpStatus)]
pub(in crate::api) struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn error_answer(encoding: Encoding, error: ApiError) -> Response {
    // OTLP clients retry only 429, 502, 503 and 504 and drop the records
    // on any other status: a full disk, which frees up, must be a 503.
    let error = match error {
        ApiError::DiskFull { error, retry_after } => ApiError::Unavailable { error, retry_after },
        error => error,
    };
    error.render_as(encoding.content_type(), |status, message| {
        let status = Status {
            code: grpc_code(status),
            message: message.to_string(),
        };
        match encoding {
            Encoding::Protobuf => status.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&status).unwrap_or_default(),
        }
    })
}

/// The gRPC status code that goes with an HTTP status (OTLP's mapping).
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        408 => 4,             // DEADLINE_EXCEEDED
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 13,              // INTERNAL
    }
}

/// The records of a request, and those that could not be taken, numbered
/// in the order they appear in the request; with `detect_layouts`, a record
/// without a severity (or a time) takes those its body's text carries (see
/// `crate::ingest::layouts`). Each record is charged to `memory` as it is
/// made: a request whose records would take too much is refused part way.
pub(super) fn records_of(
    request: ExportLogsServiceRequest,
    received: DateTime<Utc>,
    detect_layouts: bool,
    memory: &mut RecordMemory,
) -> Result<(Vec<LogRecord>, Rejections), ApiError> {
    let mut records = Vec::new();
    let mut rejected = Rejections::default();
    let mut index = 0;
    for resource_logs in request.resource_logs {
        let resource = resource_logs.resource.unwrap_or_default();
        let mut base = Base {
            service: UNKNOWN_SERVICE.to_string(),
            host: None,
            attributes: BTreeMap::new(),
        };
        for attribute in &resource.attributes {
            match (attribute.key.as_str(), string_value(attribute)) {
                ("service.name", Some(name)) => base.service = name.to_string(),
                ("host.name", Some(name)) => base.host = Some(name.to_string()),
                _ => flatten_into(&mut base.attributes, attribute),
            }
        }
        for scope_logs in resource_logs.scope_logs {
            let mut scoped = base.clone();
            if let Some(scope) = scope_logs.scope {
                for (key, text) in [
                    ("otel.scope.name", scope.name),
                    ("otel.scope.version", scope.version),
                ] {
                    if !text.is_empty() {
                        scoped.attributes.insert(key.to_string(), text);
                    }
                }
                for attribute in &scope.attributes {
                    flatten_into(&mut scoped.attributes, attribute);
                }
            }
            for record in scope_logs.log_records {
                let given = Given {
                    level: given_level(&record.severity_text, record.severity_number).is_some(),
                    time: record.time_unix_nano != 0 || record.observed_time_unix_nano != 0,
                };
                match record_of(&scoped, record, received) {
                    Ok(mut record) => {
                        if detect_layouts {
                            layouts::complete(&mut record, given);
                        }
                        memory.charge(&record)?;
                        records.push(record);
                    }
                    Err(reason) => rejected.push(Rejected { index, reason }),
                }
                index += 1;
            }
        }
    }
    Ok((records, rejected))
}

/// What a resource and scope give each of their records.
#[derive(Debug, Clone)]
struct Base {
    service: String,
    host: Option<String>,
    attributes: BTreeMap<String, String>,
}

fn record_of(
    base: &Base,
    record: OtlpRecord,
    received: DateTime<Utc>,
) -> Result<LogRecord, String> {
    let nanos = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t != 0);
    let timestamp = match nanos {
        None => received,
        Some(nanos) => i64::try_from(nanos)
            .map(|n| Utc.timestamp_nanos(n))
            .map_err(|_| format!("timeUnixNano {nanos} is after 2262, the latest time stored"))?,
    };
    let mut attributes = base.attributes.clone();
    for attribute in &record.attributes {
        flatten_into(&mut attributes, attribute);
    }
    if !record.event_name.is_empty() {
        attributes.insert("event.name".into(), record.event_name.clone());
    }
    let message = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(other) => json_of(other).to_string(),
        None => String::new(),
    };
    let mut stored = LogRecord {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp,
        service: base.service.clone(),
        level: level_of(&record.severity_text, record.severity_number),
        message,
        host: base.host.clone(),
        trace_id: hex_id(&record.trace_id),
        span_id: hex_id(&record.span_id),
        attributes,
    };
    fit_to_limits(&mut stored);
    Ok(stored)
}

/// The level named by `severityText`, else the band of `severityNumber`
/// (1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN, 17–20 ERROR, 21–24 FATAL),
/// else INFO.
fn level_of(text: &str, number: i32) -> Level {
    given_level(text, number).unwrap_or(Level::Info)
}

/// The level `severityText` or `severityNumber` gives, if either does.
fn given_level(text: &str, number: i32) -> Option<Level> {
    if let Ok(level) = text.parse() {
        return Some(level);
    }
    Some(match number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        9..=12 => Level::Info,
        13..=16 => Level::Warn,
        17..=20 => Level::Error,
        21.. => Level::Fatal,
        _ => return None,
    })
}

/// A trace or span id in lowercase hex; none when absent or all zero.
fn hex_id(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        return None;
    }
    Some(hex(bytes))
}

fn string_value(attribute: &KeyValue) -> Option<&str> {
    match attribute.value.as_ref()?.value.as_ref()? {
        Value::StringValue(text) => Some(text),
        _ => None,
    }
}

/// Adds an attribute as string attributes: a nested map becomes one
/// attribute per leaf with dotted keys (`http.request.method`), an array its
/// JSON text, bytes their base64, numbers and booleans their text.
fn flatten_into(attributes: &mut BTreeMap<String, String>, attribute: &KeyValue) {
    let value = attribute.value.as_ref().and_then(|v| v.value.as_ref());
    flatten_value(attributes, attribute.key.clone(), value);
}

fn flatten_value(attributes: &mut BTreeMap<String, String>, key: String, value: Option<&Value>) {
    match value {
        Some(Value::KvlistValue(list)) if !list.values.is_empty() => {
            for entry in &list.values {
                let value = entry.value.as_ref().and_then(|v| v.value.as_ref());
                flatten_value(attributes, format!("{key}.{}", entry.key), value);
            }
        }
        Some(Value::StringValue(text)) => {
            attributes.insert(key, text.clone());
        }
        Some(other) => {
            attributes.insert(key, json_of(other).to_string());
        }
        None => {
            attributes.insert(key, String::new());
        }
    }
}

/// An OTLP value as plain JSON (a map as an object, an array as an array).
fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    let any = |v: Option<&AnyValue>| v.and_then(|v| v.value.as_ref()).map_or(Json::Null, json_of);
    match value {
        Value::StringValue(text) => Json::String(text.clone()),
        Value::BoolValue(b) => Json::Bool(*b),
        Value::IntValue(i) => Json::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Json::String(d.to_string()), Json::Number),
        Value::BytesValue(bytes) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Value::ArrayValue(array) => {
            Json::Array(array.values.iter().map(|v| any(Some(v))).collect())
        }
        // An index into a profile's string table: only its number is known.
        Value::StringValueStrindex(index) => Json::from(*index),
        Value::KvlistValue(list) => Json::Object(
            list.values
                .iter()
                .map(|entry| (entry.key.clone(), any(entry.value.as_ref())))
                .collect(),
        ),
    }
}
