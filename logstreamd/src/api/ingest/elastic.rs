//! Elasticsearch bulk: `POST`/`PUT` on `/_bulk` and `/{index}/_bulk`, what
//! Filebeat, Fluent Bit's and Vector's `es` outputs, Logstash and the
//! Elasticsearch clients send. `index` and `create` actions are stored;
//! `update` and `delete` are answered per item with an error (log records
//! are never changed). The answer is a real bulk response: `200` with one
//! `items` entry per action, each with its own status.
//!
//! Clients check that they talk to Elasticsearch, so every answer on these
//! paths carries `X-Elastic-Product: Elasticsearch` (see
//! [`is_elastic_path`]), `GET /` answers like an Elasticsearch 8 server, and
//! the probes shippers make at start get answers that let them go on:
//! `/_license` (a basic, active licence), `/_xpack`, `/_cluster/health`
//! (green), and index templates, ILM policies and ingest pipelines, which
//! are acknowledged when put and reported missing when asked for (nothing
//! here uses them).
//!
//! Fields: the message is `message`, `msg`, `log` or `@message` (else the
//! document's JSON text); the time `@timestamp` or `timestamp`; the service
//! `service.name`, `service` or `app`, else the index name; the level
//! `log.level`, `level` or `severity`; the host `host.name`,
//! `host.hostname` or `host`; trace ids `trace.id`/`trace_id` and
//! `span.id`/`span_id`. Dotted keys and nested objects both count. Every
//! other field is an attribute, nested objects flattened to dotted keys
//! (down to [`FLATTENED_LEVELS`]) and other values kept as the JSON text
//! they were sent as (numbers keep every digit).

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, Utc};
use logstream_shared::record::{
    UNKNOWN_SERVICE, attribute_text, fit_to_limits, members_of, parse_timestamp, value_of,
};
use logstream_shared::{JsonObject, Level, LogRecord};
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, Rejected, read_body, submit};
use crate::ingest::layouts::{self, Given};

/// The Elasticsearch version `GET /` reports: clients and shippers of 7.x
/// and 8.x accept an 8.x server.
const VERSION: &str = "8.17.0";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(info).head(info))
        .route("/_bulk", post(bulk_default).put(bulk_default))
        .route("/{index}/_bulk", post(bulk_into).put(bulk_into))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_cluster/health", get(health))
        .route("/_index_template/{name}", any(setup_object))
        .route("/_template/{name}", any(setup_object))
        .route("/_component_template/{name}", any(setup_object))
        .route("/_ilm/policy/{name}", any(setup_object))
        .route("/_ingest/pipeline/{name}", any(setup_object))
}

/// Whether answers on `path` are Elasticsearch's and need its product header.
pub(in crate::api) fn is_elastic_path(path: &str) -> bool {
    path == "/" || path.starts_with("/_") || path.ends_with("/_bulk")
}

/// Adds `X-Elastic-Product: Elasticsearch` to an answer on an Elasticsearch
/// path, errors included (clients refuse answers without it).
pub(in crate::api) fn add_product_header(response: &mut Response) {
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
}

async fn info(method: Method) -> Response {
    let body = json!({
        "name": "logstream",
        "cluster_name": "logstream",
        "cluster_uuid": "logstream-0000000000000",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "logstream",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    });
    if method == Method::HEAD {
        return StatusCode::OK.into_response();
    }
    Json(body).into_response()
}

async fn license() -> Json<Value> {
    Json(json!({"license": {
        "uid": "logstream", "type": "basic", "mode": "basic", "status": "active"
    }}))
}

async fn xpack() -> Json<Value> {
    Json(json!({
        "build": {},
        "features": {},
        "license": {"uid": "logstream", "type": "basic", "mode": "basic", "status": "active"}
    }))
}

async fn health() -> Json<Value> {
    Json(json!({
        "cluster_name": "logstream", "status": "green", "timed_out": false,
        "number_of_nodes": 1, "number_of_data_nodes": 1
    }))
}

/// Templates, ILM policies and pipelines: put is acknowledged, anything
/// else finds none, so a shipper that sets them up goes on without them.
async fn setup_object(method: Method) -> Response {
    if method == Method::PUT || method == Method::POST {
        return Json(json!({"acknowledged": true})).into_response();
    }
    let error = error_body(
        StatusCode::NOT_FOUND,
        "resource_not_found_exception",
        "LogStream keeps no templates, policies or pipelines",
    );
    (StatusCode::NOT_FOUND, Json(error)).into_response()
}

async fn bulk_default(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    bulk(state, None, headers, body).await
}

async fn bulk_into(
    State(state): State<AppState>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    bulk(state, Some(index), headers, body).await
}

async fn bulk(
    state: AppState,
    index: Option<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = Instant::now();
    match take(&state, index.as_deref(), &headers, body).await {
        Ok(items) => {
            let errors = items.iter().any(|item| item.status >= 300);
            let items: Vec<Value> = items.iter().map(Item::to_json).collect();
            let took = started.elapsed().as_millis() as u64;
            Json(json!({"took": took, "errors": errors, "items": items})).into_response()
        }
        Err(e) => e.render_as("application/json", |status, message| {
            let kind = match status.as_u16() {
                429 | 503 => "es_rejected_execution_exception",
                413 => "content_too_long_exception",
                _ => "illegal_argument_exception",
            };
            serde_json::to_vec(&error_body(status, kind, message)).unwrap_or_default()
        }),
    }
}

/// Elasticsearch's error body.
fn error_body(status: StatusCode, kind: &str, reason: &str) -> Value {
    let cause = json!({"type": kind, "reason": reason});
    json!({"error": {"root_cause": [cause.clone()], "type": kind, "reason": reason}, "status": status.as_u16()})
}

/// The answer for one action of the request.
#[derive(Debug)]
pub(super) struct Item {
    action: &'static str,
    index: String,
    id: Option<String>,
    status: u16,
    error: Option<(&'static str, String)>,
}

impl Item {
    fn to_json(&self) -> Value {
        let mut body = json!({"_index": self.index, "_id": self.id, "status": self.status});
        match &self.error {
            None => {
                body["_version"] = json!(1);
                body["result"] = json!("created");
                body["_shards"] = json!({"total": 1, "successful": 1, "failed": 0});
                body["_seq_no"] = json!(0);
                body["_primary_term"] = json!(1);
            }
            Some((kind, reason)) => body["error"] = json!({"type": kind, "reason": reason}),
        }
        json!({ self.action: body })
    }
}

async fn take(
    state: &AppState,
    index: Option<&str>,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Vec<Item>, ApiError> {
    let body = read_body(state, headers, body, &[]).await?;
    let (items, records) = parse_bulk(&body.bytes, index, Utc::now(), state.detect_layouts)?;
    if !records.is_empty() {
        submit(state, headers, &body.bytes, records).await?;
    }
    Rejected::count(state, items.iter().filter(|i| i.status >= 300).count());
    Ok(items)
}

/// Every action's answer, and the records of those that are stored. A line
/// that is not an action refuses the whole request: what follows it cannot
/// be told apart from documents. With `detect_layouts`, a document without a
/// level (or a time) takes those its message's text carries (see
/// `crate::ingest::layouts`).
pub(super) fn parse_bulk(
    body: &[u8],
    index: Option<&str>,
    received: DateTime<Utc>,
    detect_layouts: bool,
) -> Result<(Vec<Item>, Vec<LogRecord>), ApiError> {
    let mut lines = body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    let mut records = Vec::new();
    while let Some((number, line)) = lines.next() {
        let (action, meta) = action_of(line).map_err(|e| {
            ApiError::bad_request(format!(
                "line {}: {e}; a bulk body alternates action lines ({{\"index\":{{}}}} or \
                 {{\"create\":{{}}}}) and documents",
                number + 1
            ))
        })?;
        let target = meta
            .get("_index")
            .and_then(Value::as_str)
            .or(index)
            .unwrap_or_default()
            .to_string();
        let id = meta.get("_id").and_then(Value::as_str).map(str::to_string);
        let mut item = Item {
            action,
            index: target,
            id,
            status: 201,
            error: None,
        };
        // Every action but delete is followed by its document.
        let document = if action == "delete" {
            None
        } else {
            lines.next().map(|(_, line)| line)
        };
        match (action, document) {
            ("index" | "create", Some(document)) => {
                match record_of(document, &item.index, item.id.clone(), received) {
                    Ok((mut record, given)) => {
                        if detect_layouts {
                            layouts::complete(&mut record, given);
                        }
                        item.id = Some(record.id.clone());
                        records.push(record);
                    }
                    Err(reason) => item.reject(400, "document_parsing_exception", reason),
                }
            }
            ("index" | "create", None) => {
                item.reject(400, "action_request_validation_exception", "the document line is missing".into())
            }
            _ => item.reject(
                400,
                "illegal_argument_exception",
                format!("\"{action}\" is not supported: stored log records are never changed; use index or create"),
            ),
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(ApiError::bad_request("the bulk body has no actions"));
    }
    Ok((items, records))
}

impl Item {
    fn reject(&mut self, status: u16, kind: &'static str, reason: String) {
        self.status = status;
        self.error = Some((kind, reason));
    }
}

/// The action of an action line and its metadata (`_index`, `_id`).
fn action_of(line: &[u8]) -> Result<(&'static str, Map<String, Value>), String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    let mut entries = object.into_iter();
    let (Some((name, meta)), None) = (entries.next(), entries.next()) else {
        return Err("an action line has exactly one key".into());
    };
    let action = match name.as_str() {
        "index" => "index",
        "create" => "create",
        "update" => "update",
        "delete" => "delete",
        other => return Err(format!("unknown action \"{other}\"")),
    };
    match meta {
        Value::Object(meta) => Ok((action, meta)),
        _ => Err(format!("the \"{action}\" action's value is not an object")),
    }
}

/// How many levels of nested objects become dotted keys; deeper ones are
/// kept as their JSON text. Documents are read without a nesting limit (as
/// text), so this bounds the recursion, and the work, of flattening.
const FLATTENED_LEVELS: usize = 16;

fn record_of(
    line: &[u8],
    index: &str,
    id: Option<String>,
    received: DateTime<Utc>,
) -> Result<(LogRecord, Given), String> {
    let mut document = document_of(line)?;
    let time = take_first(&mut document, &["@timestamp", "timestamp"]);
    let given_time = time.is_some();
    let timestamp = match time {
        Some(raw) => parse_timestamp(&value_of(&raw))?,
        None => received,
    };
    let message = take_text(&mut document, &["message", "msg", "log", "@message"]);
    let service = take_text(&mut document, &["service.name", "service", "app"]);
    let level = take_text(&mut document, &["log.level", "level", "severity"]);
    let parsed_level = level.as_deref().and_then(|l| l.parse::<Level>().ok());
    if let (Some(level), None) = (&level, parsed_level)
        && let Ok(raw) = to_raw_value(level)
    {
        document.insert("level".into(), raw);
    }
    let host = take_text(&mut document, &["host.name", "host.hostname", "host"]);
    let trace_id = take_text(&mut document, &["trace.id", "trace_id"]);
    let span_id = take_text(&mut document, &["span.id", "span_id"]);
    let message = message.unwrap_or_else(|| {
        to_raw_value(&document)
            .map(|raw| attribute_text(&raw))
            .unwrap_or_default()
    });
    let mut attributes = std::collections::BTreeMap::new();
    for (name, value) in document {
        flatten(&mut attributes, name, &value, FLATTENED_LEVELS);
    }
    let fallback_service = if index.is_empty() {
        UNKNOWN_SERVICE
    } else {
        index
    };
    let mut record = LogRecord {
        id: id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        timestamp,
        service: service.unwrap_or_else(|| fallback_service.to_string()),
        level: parsed_level.unwrap_or(Level::Info),
        message,
        host,
        trace_id,
        span_id,
        attributes,
    };
    fit_to_limits(&mut record);
    let given = Given {
        level: parsed_level.is_some(),
        time: given_time,
    };
    Ok((record, given))
}

/// A document line's members, each kept as the JSON text it was sent as.
fn document_of(line: &[u8]) -> Result<JsonObject, String> {
    serde_json::from_slice(line).map_err(|e| {
        if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
            "the document is not a JSON object".to_string()
        } else {
            format!("the document is not valid JSON: {e}")
        }
    })
}

/// Removes and returns the first of `fields` present, each as a dotted key
/// (`"log.level": …`) or a path through nested objects (`"log": {"level": …}`).
fn take_first(document: &mut JsonObject, fields: &[&str]) -> Option<Box<RawValue>> {
    fields
        .iter()
        .find_map(|field| take_path(document, field, &|_| true))
}

/// [`take_first`] for text fields: only a string (or a number) is taken.
fn take_text(document: &mut JsonObject, fields: &[&str]) -> Option<String> {
    let is_text = |raw: &RawValue| text_of(raw).is_some();
    fields
        .iter()
        .find_map(|field| take_path(document, field, &is_text))
        .and_then(|raw| text_of(&raw))
}

/// A string's text, or a number's JSON text as sent.
fn text_of(raw: &RawValue) -> Option<String> {
    match raw.get().as_bytes().first()? {
        b'"' | b'-' | b'0'..=b'9' => Some(attribute_text(raw)),
        _ => None,
    }
}

/// Removes the value at `field` if `accept` takes it; an object left empty
/// by that is removed too.
fn take_path(
    document: &mut JsonObject,
    field: &str,
    accept: &dyn Fn(&RawValue) -> bool,
) -> Option<Box<RawValue>> {
    if document.get(field).is_some_and(|raw| accept(raw)) {
        return document.remove(field);
    }
    let (head, rest) = field.split_once('.')?;
    let mut inner = members_of(document.get(head)?)?;
    let taken = take_path(&mut inner, rest, accept)?;
    if inner.is_empty() {
        document.remove(head);
    } else {
        document.insert(head.to_string(), to_raw_value(&inner).ok()?);
    }
    Some(taken)
}

/// Adds the attributes of one member: a nested object's members as dotted
/// keys, `levels` deep; any other value (an empty object too) as its text.
fn flatten(
    attributes: &mut std::collections::BTreeMap<String, String>,
    key: String,
    raw: &RawValue,
    levels: usize,
) {
    match members_of(raw).filter(|members| !members.is_empty() && levels > 0) {
        Some(members) => {
            for (name, value) in members {
                flatten(attributes, format!("{key}.{name}"), &value, levels - 1);
            }
        }
        None => {
            attributes.insert(key, attribute_text(raw));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> DateTime<Utc> {
        "2024-01-02T03:04:05Z".parse().unwrap()
    }

    #[test]
    fn ecs_objects_and_dotted_keys_map_alike() {
        let body = concat!(
            "{\"index\":{}}\n",
            "{\"@timestamp\":\"2024-05-01T12:00:00Z\",\"message\":\"m1\",\"log\":{\"level\":\"warn\",\"logger\":\"x\"},\"service\":{\"name\":\"api\"},\"host\":{\"name\":\"h1\"},\"trace\":{\"id\":\"t\"},\"http\":{\"status\":500},\"tags\":[\"a\"]}\n",
            "{\"create\":{\"_index\":\"other\",\"_id\":\"doc-2\"}}\n",
            "{\"msg\":\"m2\",\"log.level\":\"error\",\"service.name\":\"web\",\"host.name\":\"h2\"}\n",
            "{\"index\":{}}\n",
            "{\"log\":\"m3\"}\n",
        );
        let (items, records) =
            parse_bulk(body.as_bytes(), Some("logs-app"), received(), true).unwrap();
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| i.status == 201));
        assert_eq!(records[0].service, "api");
        assert_eq!(records[0].level, Level::Warn);
        assert_eq!(records[0].host.as_deref(), Some("h1"));
        assert_eq!(records[0].trace_id.as_deref(), Some("t"));
        assert_eq!(records[0].attributes["log.logger"], "x");
        assert_eq!(records[0].attributes["http.status"], "500");
        assert_eq!(records[0].attributes["tags"], "[\"a\"]");
        assert!(!records[0].attributes.contains_key("service.name"));
        assert_eq!(records[1].service, "web");
        assert_eq!(records[1].id, "doc-2");
        assert_eq!(records[1].level, Level::Error);
        assert_eq!(items[1].index, "other");
        assert_eq!(records[2].service, "logs-app");
        assert_eq!(records[2].message, "m3");
        assert_eq!(records[2].timestamp, received());
    }

    #[test]
    fn a_bad_document_costs_only_its_own_item() {
        let body = "{\"index\":{}}\n{\"message\":\"ok\"}\n{\"index\":{}}\nnot json\n{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{}}\n{\"message\":\"m\",\"@timestamp\":\"soon\"}\n";
        let (items, records) = parse_bulk(body.as_bytes(), None, received(), true).unwrap();
        let statuses: Vec<u16> = items.iter().map(|i| i.status).collect();
        assert_eq!(statuses, [201, 400, 400, 400]);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].service, UNKNOWN_SERVICE);
        let json = items[1].to_json();
        assert_eq!(json["index"]["error"]["type"], "document_parsing_exception");
    }

    #[test]
    fn numbers_keep_the_text_they_were_sent_as() {
        let body = concat!(
            "{\"index\":{}}\n",
            "{\"msg\":12345678901234567890123,\"frac\":1.0000000000000000000001,",
            "\"http\":{\"ids\":[ 18446744073709551616 , 1.50 ]},\"level\":9007199254740993}\n",
            "{\"index\":{}}\n",
            "{\"n\": 36893488147419103232, \"o\": {\"p\": 1e400}}\n",
        );
        let (_, records) = parse_bulk(body.as_bytes(), None, received(), false).unwrap();
        let attributes = &records[0].attributes;
        assert_eq!(records[0].message, "12345678901234567890123");
        assert_eq!(attributes["frac"], "1.0000000000000000000001");
        assert_eq!(attributes["http.ids"], "[18446744073709551616,1.50]");
        assert_eq!(attributes["level"], "9007199254740993");
        // Without a message, the document's JSON text, without spaces.
        assert_eq!(
            records[1].message,
            r#"{"n":36893488147419103232,"o":{"p":1e400}}"#
        );
        assert_eq!(records[1].attributes["o.p"], "1e400");
    }

    /// Documents are read without serde_json's nesting limit: flattening
    /// stops at `FLATTENED_LEVELS`, so that neither its recursion nor its
    /// work grows with a hostile document's depth.
    #[test]
    fn deeply_nested_documents_are_flattened_only_so_deep() {
        let depth = 100_000;
        let document = format!(
            "{{\"message\":\"m\",\"a\":{}1{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        let body = format!("{{\"index\":{{}}}}\n{document}\n");
        let (items, records) = parse_bulk(body.as_bytes(), None, received(), false).unwrap();
        assert_eq!(items[0].status, 201);
        let key = vec!["a"; FLATTENED_LEVELS + 1].join(".");
        assert!(records[0].attributes[&key].starts_with("{\"a\":{\"a\":"));
    }

    #[test]
    fn a_line_that_is_no_action_refuses_the_request() {
        let error =
            parse_bulk(b"{\"message\":\"no action\"}\n", None, received(), true).unwrap_err();
        assert!(error.message().contains("line 1"), "{}", error.message());
    }
}
