//! `POST /api/ingest`: one JSON object (the seed's form), a JSON array of
//! them, or NDJSON (`Content-Type: application/x-ndjson`); gzip bodies with
//! `Content-Encoding: gzip`. A batch is stored whole or not at all.
//!
//! A request may carry `Idempotency-Key: KEY` (at most 200 characters): a
//! retry of it with the same body is answered 202 again, with the header
//! `Idempotent-Replayed: true`, and not stored twice; the same key with
//! another body is refused (422). The embedded pipeline keeps keys for 24
//! hours; with a Kafka queue keys are not checked.
//!
//! Shippers whose records use other field names (Fluent Bit's `log` and
//! `date`, records without a service) say so per request, in query
//! parameters or headers: see [`FieldNames`].

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use logstream_shared::api::{IngestAccepted, MAX_BATCH_RECORDS};
use logstream_shared::{FieldError, JsonObject, LogRecord, json_object, record_from_json};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ApiError, AppState, Details, media_type, read_body, submit};
use crate::api::query_params;
use crate::ingest::Submitted;
use crate::ingest::layouts::{self, Given};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/ingest", post(ingest))
}

/// How many problems of a single record its `error` names (`details` has
/// more).
const SHOWN_IN_ERROR: usize = 10;

/// Whether a record (with the request's field names applied) gives its
/// level and time, or leaves them to the defaults (or `--detect-layouts`).
fn given(object: &JsonObject) -> Given {
    Given {
        level: object.contains_key("level"),
        time: object.contains_key("timestamp"),
    }
}

/// What the body held: JSON values as sent (see [`JsonObject`]).
pub(super) enum Body {
    Single(Box<RawValue>),
    Batch(Vec<Box<RawValue>>),
}

async fn ingest(
    State(state): State<AppState>,
    names: Result<Query<FieldNames>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<
    (
        StatusCode,
        [(&'static str, &'static str); 1],
        Json<IngestAccepted>,
    ),
    ApiError,
> {
    let names = query_params(names)?.or_headers(&headers);
    let body = read_body(&state, &headers, body, &[]).await?;
    let received = Utc::now();
    let parsed = if is_ndjson(&headers) {
        parse_ndjson(&body.bytes)?
    } else {
        parse_json(&body.bytes)?
    };
    let (records, single) = records_of(parsed, &names, received, state.detect_layouts)?;

    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let submitted = submit(&state, &headers, &body.bytes, records).await?;
    let replayed = matches!(submitted, Submitted::AlreadyStored(_));
    // A replay's records that give no id were given new ones: the answer
    // names those stored the first time.
    let ids = match submitted {
        Submitted::AlreadyStored(stored) => stored,
        Submitted::Stored => ids,
    };
    let accepted = IngestAccepted {
        status: "queued".into(),
        id: single.then(|| ids[0].clone()),
        accepted: ids.len(),
        ids: if single { Vec::new() } else { ids },
    };
    let replayed_header = [(
        "idempotent-replayed",
        if replayed { "true" } else { "false" },
    )];
    Ok((StatusCode::ACCEPTED, replayed_header, Json(accepted)))
}

/// The records of a parsed body, with the request's field names applied,
/// and whether the body was a single record. A batch with a bad record is
/// refused whole, its problems listed.
pub(super) fn records_of(
    parsed: Body,
    names: &FieldNames,
    received: DateTime<Utc>,
    detect_layouts: bool,
) -> Result<(Vec<LogRecord>, bool), ApiError> {
    let (values, single) = match parsed {
        Body::Single(value) => (vec![value], true),
        Body::Batch(values) => (values, false),
    };
    if values.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::PayloadTooLarge(format!(
            "batch has {} records; at most {MAX_BATCH_RECORDS} are accepted per request",
            values.len()
        )));
    }

    let mut records = Vec::with_capacity(values.len());
    let mut details = Details::default();
    for (index, value) in values.into_iter().enumerate() {
        let parsed = json_object(&value).and_then(|mut object| {
            names.apply(&mut object);
            let given = given(&object);
            record_from_json(object, received).map(|record| (record, given))
        });
        match parsed {
            // A batch with a bad record is refused: the rest need not be kept.
            Ok((mut record, given)) if details.is_empty() => {
                if detect_layouts {
                    layouts::complete(&mut record, given);
                }
                records.push(record);
            }
            Ok(_) => {}
            Err(errors) => {
                records = Vec::new();
                for error in errors {
                    details.push_detail(|| FieldError {
                        index: (!single).then_some(index),
                        ..error
                    });
                }
            }
        }
    }
    if !details.is_empty() {
        let error = if single {
            let mut problems: Vec<String> = details
                .kept
                .iter()
                .take(SHOWN_IN_ERROR)
                .map(ToString::to_string)
                .collect();
            if details.total > SHOWN_IN_ERROR {
                problems.push(format!(
                    "and {} more problem(s)",
                    details.total - SHOWN_IN_ERROR
                ));
            }
            format!("invalid log record: {}", problems.join("; "))
        } else {
            format!(
                "batch rejected, nothing was stored: {} problem(s) in the records listed in details",
                details.total
            )
        };
        return Err(details.into_error(error));
    }
    Ok((records, single))
}

/// Where a shipper's records keep what LogStream's own records call
/// `message`, `timestamp`, `service` and `level`, and the service of records
/// that name none: query parameters `message_field`, `time_field`,
/// `service_field`, `level_field` and `service`, or the headers
/// `LogStream-Message-Field`, `LogStream-Time-Field`,
/// `LogStream-Service-Field`, `LogStream-Level-Field` and
/// `LogStream-Service` (a query parameter wins).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::api) struct FieldNames {
    /// The field that holds the message (header `LogStream-Message-Field`).
    message_field: Option<String>,
    /// The field that holds the time (header `LogStream-Time-Field`).
    time_field: Option<String>,
    /// The field that holds the service (header `LogStream-Service-Field`).
    service_field: Option<String>,
    /// The field that holds the level (header `LogStream-Level-Field`).
    level_field: Option<String>,
    /// The service of records that name none (header `LogStream-Service`).
    service: Option<String>,
}

impl FieldNames {
    fn or_headers(mut self, headers: &HeaderMap) -> FieldNames {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        for (field, name) in [
            (&mut self.message_field, "logstream-message-field"),
            (&mut self.time_field, "logstream-time-field"),
            (&mut self.service_field, "logstream-service-field"),
            (&mut self.level_field, "logstream-level-field"),
            (&mut self.service, "logstream-service"),
        ] {
            if field.is_none() {
                *field = header(name);
            }
        }
        self
    }

    /// Renames a record's fields to LogStream's. A named field swaps places
    /// with the field it stands for, so that nothing the record held is
    /// lost (with `message_field=log`, a `message` becomes the attribute
    /// `log`).
    fn apply(&self, record: &mut JsonObject) {
        for (target, source) in [
            ("message", &self.message_field),
            ("timestamp", &self.time_field),
            ("service", &self.service_field),
            ("level", &self.level_field),
        ] {
            let Some(source) = source.as_deref().filter(|s| *s != target) else {
                continue;
            };
            if let Some(value) = record.remove(source)
                && let Some(previous) = record.insert(target.to_string(), value)
            {
                record.insert(source.to_string(), previous);
            }
        }
        if let Some(service) = &self.service
            && record
                .get("service")
                .is_none_or(|s| matches!(s.get(), "null" | "\"\""))
            && let Ok(service) = serde_json::value::to_raw_value(service)
        {
            record.insert("service".into(), service);
        }
    }
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    let content_type = media_type(headers);
    [
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
    ]
    .iter()
    .any(|t| content_type.starts_with(t))
}

pub(super) fn parse_json(body: &[u8]) -> Result<Body, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON object, a JSON array of objects, or NDJSON",
        ));
    }
    let parsed = serde_json::from_slice::<Box<RawValue>>(body).and_then(|value| {
        if value.get().starts_with('[') {
            serde_json::from_str(value.get()).map(Body::Batch)
        } else {
            Ok(Body::Single(value))
        }
    });
    match parsed {
        Ok(Body::Batch(values)) if values.is_empty() => {
            Err(ApiError::bad_request("batch is empty"))
        }
        Ok(Body::Single(value)) if !value.get().starts_with('{') => Err(ApiError::bad_request(
            "expected a JSON object or a JSON array of objects",
        )),
        Ok(body) => Ok(body),
        Err(e) => {
            // Several objects one after another are NDJSON sent as JSON.
            let hint = if e.to_string().starts_with("trailing characters") {
                " (for one JSON object per line, send Content-Type: application/x-ndjson)"
            } else {
                ""
            };
            Err(ApiError::bad_request(format!(
                "request body is not valid JSON: {e}{hint}"
            )))
        }
    }
}

pub(super) fn parse_ndjson(body: &[u8]) -> Result<Body, ApiError> {
    let mut values = Vec::new();
    let mut details = Details::default();
    let mut lines = 0;
    for (line_number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            // A batch with a bad line is refused: the rest need not be kept.
            Ok(value) if details.is_empty() => values.push(value),
            Ok(_) => {}
            Err(e) => {
                values = Vec::new();
                details.push_detail(|| FieldError {
                    index: Some(lines),
                    field: String::new(),
                    message: format!("line {}: invalid JSON: {e}", line_number + 1),
                });
            }
        }
        lines += 1;
    }
    if !details.is_empty() {
        let error = format!(
            "batch rejected, nothing was stored: {} line(s) are not valid JSON",
            details.total
        );
        return Err(details.into_error(error));
    }
    if values.is_empty() {
        return Err(ApiError::bad_request(
            "request body has no records; send one JSON object per line",
        ));
    }
    Ok(Body::Batch(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_names_rename_and_default() {
        let names = FieldNames {
            message_field: Some("log".into()),
            time_field: Some("date".into()),
            service: Some("fluent".into()),
            ..FieldNames::default()
        };
        let applied = |record: serde_json::Value| {
            let mut object: JsonObject = serde_json::from_value(record).unwrap();
            names.apply(&mut object);
            serde_json::to_value(object).unwrap()
        };
        assert_eq!(
            applied(json!({"log": "hello", "date": 1.5, "message": "other"})),
            json!({"message": "hello", "timestamp": 1.5, "log": "other", "service": "fluent"})
        );
        assert_eq!(
            applied(json!({"log": "x", "service": "own"}))["service"],
            "own"
        );
        assert_eq!(
            applied(json!({"log": "x", "service": ""}))["service"],
            "fluent"
        );
    }

    #[test]
    fn headers_fill_what_the_query_left_out() {
        let mut headers = HeaderMap::new();
        headers.insert("logstream-message-field", "msg".parse().unwrap());
        headers.insert("logstream-service", "from-header".parse().unwrap());
        let names = FieldNames {
            service: Some("from-query".into()),
            ..FieldNames::default()
        }
        .or_headers(&headers);
        assert_eq!(names.message_field.as_deref(), Some("msg"));
        assert_eq!(names.service.as_deref(), Some("from-query"));
    }
}
