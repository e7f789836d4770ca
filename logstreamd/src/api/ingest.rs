//! `POST /api/ingest`: one JSON object (the seed's form), a JSON array of
//! them, or NDJSON (`Content-Type: application/x-ndjson`); gzip bodies with
//! `Content-Encoding: gzip`. A batch is stored whole or not at all.
//!
//! A request may carry `Idempotency-Key: KEY` (at most 200 characters): a
//! retry of it with the same body is answered 202 again, with the header
//! `Idempotent-Replayed: true`, and not stored twice; the same key with
//! another body is refused (422). The embedded pipeline keeps keys for 24
//! hours; with a Kafka queue keys are not checked.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use bytes::BytesMut;
use chrono::Utc;
use http_body_util::BodyExt;
use logstream_shared::api::{IngestAccepted, MAX_BATCH_RECORDS};
use logstream_shared::{FieldError, record_from_json};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, AppState, HttpLimits};
use crate::ingest::{IdempotencyKey, Submitted};

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
    let (body, _reserved) = read_body(body, state.limits, &state.ingest_memory).await?;
    let received = Utc::now();
    let parsed = if is_ndjson(&headers) {
        parse_ndjson(&body)?
    } else {
        parse_json(&body)?
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

    let key = idempotency_key(&headers, &body)?;
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let submitted = state.sink.submit(records, key).await?;
    let replayed = submitted == Submitted::AlreadyStored;
    if !replayed {
        state.metrics.ingested_records.inc_by(ids.len() as u64);
    }
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

/// The longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 200;

/// The request's `Idempotency-Key` with a digest of its (decompressed) body.
fn idempotency_key(headers: &HeaderMap, body: &[u8]) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        })?;
    let digest = Sha256::digest(body);
    let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        fingerprint,
    }))
}

/// Memory reserved per body byte: the body itself plus the parsed JSON
/// values, which for small records (a map node per object) take twenty-odd
/// times the size of their text.
pub const MEMORY_PER_BODY_BYTE: usize = 32;

/// The whole body, decompressed, within the size limit and the request
/// timeout. Memory for it is reserved from the ingest budget as it arrives, so
/// many large bodies at once get 429 instead of exhausting memory; the
/// reservation lasts as long as the returned permit.
async fn read_body(
    body: axum::body::Body,
    limits: HttpLimits,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), ApiError> {
    let reading = async {
        let mut body = body;
        let mut buffer = BytesMut::new();
        let mut reserved: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buffer.len() + data.len() > limits.max_body_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "request body is over the limit of {} bytes (after decompression); send smaller batches",
                    limits.max_body_bytes
                )));
            }
            let wanted = u32::try_from(data.len() * MEMORY_PER_BODY_BYTE).map_err(|_| {
                ApiError::PayloadTooLarge(
                    "a single body chunk is too large to reserve memory for".into(),
                )
            })?;
            let permit = Arc::clone(budget).try_acquire_many_owned(wanted).map_err(|_| ApiError::Overloaded {
                error: "the daemon is reading too many request bodies at once (--max-ingest-memory); retry later".into(),
                retry_after: Duration::from_secs(1),
            })?;
            match &mut reserved {
                Some(held) => held.merge(permit),
                None => reserved = Some(permit),
            }
            buffer.extend_from_slice(&data);
        }
        Ok((buffer.freeze(), reserved))
    };
    tokio::time::timeout(limits.request_timeout, reading)
        .await
        .map_err(|_| {
            ApiError::Timeout(format!(
                "the request body did not arrive within {}",
                humantime::format_duration(limits.request_timeout)
            ))
        })?
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
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
