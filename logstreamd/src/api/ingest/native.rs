//! `POST /api/ingest`: one JSON object (the seed's form), a JSON array of
//! them, or NDJSON (`Content-Type: application/x-ndjson`); gzip bodies with
//! `Content-Encoding: gzip`. A batch is stored whole or not at all.
//!
//! A request may carry `Idempotency-Key: KEY` (at most 200 characters): a
//! retry of it with the same body is answered 202 again, with the header
//! `Idempotent-Replayed: true`, and not stored twice; the same key with
//! another body is refused (422). The embedded pipeline keeps keys for 24
//! hours; with a Kafka queue keys are not checked.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use logstream_shared::api::{IngestAccepted, MAX_BATCH_RECORDS};
use logstream_shared::{FieldError, record_from_json};
use serde_json::Value;

use super::{ApiError, AppState, media_type, read_body, submit};
use crate::ingest::Submitted;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/ingest", post(ingest))
}

/// What the body held.
enum Body {
    Single(Value),
    Batch(Vec<Value>),
}

async fn ingest(
    State(state): State<AppState>,
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
    let body = read_body(&state, body).await?;
    let received = Utc::now();
    let parsed = if is_ndjson(&headers) {
        parse_ndjson(&body.bytes)?
    } else {
        parse_json(&body.bytes)?
    };
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
    let mut details = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        match record_from_json(value, received) {
            Ok(record) => records.push(record),
            Err(errors) => details.extend(errors.into_iter().map(|e| FieldError {
                index: (!single).then_some(index),
                ..e
            })),
        }
    }
    if !details.is_empty() {
        let error = if single {
            let problems: Vec<String> = details.iter().map(ToString::to_string).collect();
            format!("invalid log record: {}", problems.join("; "))
        } else {
            format!(
                "batch rejected, nothing was stored: {} problem(s) in the records listed in details",
                details.len()
            )
        };
        return Err(ApiError::BadRequest { error, details });
    }

    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let submitted = submit(&state, &headers, &body.bytes, records).await?;
    let replayed = submitted == Submitted::AlreadyStored;
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

fn parse_json(body: &[u8]) -> Result<Body, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON object, a JSON array of objects, or NDJSON",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Array(values)) if values.is_empty() => {
            Err(ApiError::bad_request("batch is empty"))
        }
        Ok(Value::Array(values)) => Ok(Body::Batch(values)),
        Ok(value @ Value::Object(_)) => Ok(Body::Single(value)),
        Ok(_) => Err(ApiError::bad_request(
            "expected a JSON object or a JSON array of objects",
        )),
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

fn parse_ndjson(body: &[u8]) -> Result<Body, ApiError> {
    let mut values = Vec::new();
    let mut details = Vec::new();
    for (line_number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(value) => values.push(value),
            Err(e) => details.push(FieldError {
                index: Some(values.len() + details.len()),
                field: String::new(),
                message: format!("line {}: invalid JSON: {e}", line_number + 1),
            }),
        }
    }
    if !details.is_empty() {
        return Err(ApiError::BadRequest {
            error: format!(
                "batch rejected, nothing was stored: {} line(s) are not valid JSON",
                details.len()
            ),
            details,
        });
    }
    if values.is_empty() {
        return Err(ApiError::bad_request(
            "request body has no records; send one JSON object per line",
        ));
    }
    Ok(Body::Batch(values))
}
