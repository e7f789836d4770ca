//! The ingest front. Every protocol's endpoint reads its body, checks the
//! idempotency key and hands records to the sink through the pieces here,
//! so limits, decompression, the memory budget and durability are the same
//! for all of them; each protocol module only turns a body into records
//! (and the records it could not take) and renders its own answer.
//!
//! `Content-Encoding` deflate and zstd are decoded by a layer before the
//! body is read; gzip is decoded here, as the body arrives, because the
//! layer stops after the first gzip member and a body may hold several
//! (`cat a.gz b.gz` is valid gzip). The size limit counts decompressed
//! bytes either way, so a decompression bomb ends in a 413, not in exhausted
//! memory.

mod elastic;
#[cfg(test)]
mod fuzz_tests;
mod loki;
mod native;
mod otlp;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use bytes::BytesMut;
use http_body_util::BodyExt;
use logstream_shared::api::MAX_ERROR_DETAILS;
use logstream_shared::{FieldError, LogRecord};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, AppState, HttpLimits};
use crate::ingest::order::{self, Place};
use crate::ingest::{IdempotencyKey, SinkError, Submitted, Turn};

pub(super) use elastic::{add_product_header, is_elastic_path};
pub(super) use loki::JsonPush as LokiPush;
pub(super) use native::FieldNames;
pub(super) use otlp::Status as OtlpStatus;

pub(super) fn router(state: &AppState) -> Router<AppState> {
    native::router()
        .merge(otlp::router())
        .merge(loki::router())
        .merge(elastic::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), keep_order))
}

/// A request that names its place among its client's batches (see
/// [`order`]) holds it while it is handled: answered in any way, even
/// refused before it reached the pipeline, it lets the next batch go.
async fn keep_order(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let held = match order_place(request.headers()) {
        Ok(Some(place)) => Some(state.order.hold(place)),
        Ok(None) => None,
        Err(e) => return e.into_response(),
    };
    let response = next.run(request).await;
    drop(held);
    response
}

/// Bytes in lowercase hex: OTLP's trace ids, idempotency fingerprints.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// The first `N` of a request's problems, and how many there were in all.
/// Past the first `N` a problem is only counted, so that a body of millions
/// of bad lines makes neither an answer nor the memory to build it millions
/// of entries long.
#[derive(Debug)]
struct FirstOf<T, const N: usize> {
    kept: Vec<T>,
    total: usize,
}

impl<T, const N: usize> Default for FirstOf<T, N> {
    fn default() -> Self {
        FirstOf {
            kept: Vec::new(),
            total: 0,
        }
    }
}

impl<T, const N: usize> FirstOf<T, N> {
    /// Counts a problem; `make` is called only for one that is kept.
    fn push_with(&mut self, make: impl FnOnce() -> T) {
        self.total += 1;
        if self.kept.len() < N {
            self.kept.push(make());
        }
    }

    fn push(&mut self, problem: T) {
        self.push_with(|| problem);
    }

    fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many were left out.
    fn left_out(&self) -> usize {
        self.total - self.kept.len()
    }
}

/// The problems of a request to `POST /api/ingest`, as the `details` of its
/// 400 answer, each cut to a readable length (a message may quote a value of
/// any size).
type Details = FirstOf<FieldError, MAX_ERROR_DETAILS>;

/// Longest `message` of one entry of `details`, in bytes.
const MAX_DETAIL_MESSAGE: usize = 512;
/// Longest `field` of one entry of `details`, in bytes.
const MAX_DETAIL_FIELD: usize = 200;

impl Details {
    fn push_detail(&mut self, make: impl FnOnce() -> FieldError) {
        self.push_with(|| {
            let mut detail = make();
            shorten(&mut detail.message, MAX_DETAIL_MESSAGE);
            shorten(&mut detail.field, MAX_DETAIL_FIELD);
            detail
        });
    }

    /// The 400 answer: `error`, then how many of the problems `details`
    /// lists when it could not list them all.
    fn into_error(self, error: String) -> ApiError {
        let error = if self.left_out() > 0 {
            format!("{error}; details lists the first {}", self.kept.len())
        } else {
            error
        };
        ApiError::BadRequest {
            error,
            details: self.kept,
        }
    }
}

/// Cuts `text` to about `max` bytes on a character boundary, marking the cut.
fn shorten(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// A record of a shipper's request that could not be taken, by its position
/// among the request's records, and why. The others are stored: shippers
/// drop a whole batch that is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rejected {
    index: usize,
    reason: String,
}

/// The rejected records of a shipper's request: the first few with their
/// reasons, the rest counted.
type Rejections = FirstOf<Rejected, { Rejected::SHOWN }>;

impl Rejected {
    /// How many rejections a summary names.
    const SHOWN: usize = 10;
    /// Longest reason a summary quotes, in bytes.
    const MAX_REASON: usize = 512;

    /// Counts `n` rejections in `/metrics`, once the rest of their request
    /// is stored (a request refused whole is retried and counted then).
    fn count(state: &AppState, n: usize) {
        state.metrics.rejected_records.inc_by(n as u64);
    }

    /// How many were rejected, with the first few reasons.
    fn summary(rejected: &Rejections) -> String {
        let mut text = format!("{} record(s) could not be taken", rejected.total);
        for (n, r) in rejected.kept.iter().enumerate() {
            let mut reason = r.reason.clone();
            shorten(&mut reason, Rejected::MAX_REASON);
            text.push_str(if n == 0 { ": " } else { "; " });
            text.push_str(&format!("record {}: {reason}", r.index));
        }
        if rejected.left_out() > 0 {
            text.push_str(&format!("; and {} more", rejected.left_out()));
        }
        text
    }
}

/// A request body, read whole and decompressed, with the share of the
/// ingest memory budget it holds until dropped.
struct IngestBody {
    bytes: Bytes,
    reserved: Option<OwnedSemaphorePermit>,
}

impl IngestBody {
    /// The account of the memory the body's records take, charged to this
    /// body's share of the budget.
    fn record_memory<'a>(&'a mut self, state: &'a AppState) -> RecordMemory<'a> {
        let most = state
            .limits
            .max_body_bytes
            .saturating_mul(MEMORY_PER_BODY_BYTE);
        RecordMemory::new(&mut self.reserved, &state.ingest_memory, most)
    }
}

/// The memory of the records a protocol decodes from a body. A body whose
/// records repeat what they share (an OTLP resource's attributes, a Loki
/// stream's labels) can decode to far more than its own size: its records
/// are charged to the ingest budget as they are made. Up to its body's
/// share they cost nothing more; past it the request takes more from the
/// budget (429 when the budget has none left), and past what the largest
/// body may take it is refused with 413, before it is decoded further.
struct RecordMemory<'a> {
    held: &'a mut Option<OwnedSemaphorePermit>,
    budget: &'a Arc<Semaphore>,
    /// The most one request may hold: the share of the largest body.
    most: usize,
    used: usize,
}

impl<'a> RecordMemory<'a> {
    /// Taken from the budget at a time, so that records are not charged one
    /// by one.
    const STEP: usize = 1 << 20;

    fn new(
        held: &'a mut Option<OwnedSemaphorePermit>,
        budget: &'a Arc<Semaphore>,
        most: usize,
    ) -> RecordMemory<'a> {
        RecordMemory {
            held,
            budget,
            most,
            used: 0,
        }
    }

    fn charge(&mut self, record: &LogRecord) -> Result<(), ApiError> {
        self.charge_bytes(memory_of(record))
    }

    /// Charges memory that is not a record's (a body the protocol
    /// decompresses itself).
    fn charge_bytes(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.used += bytes;
        let held = self.held.as_ref().map_or(0, |p| p.num_permits());
        if self.used <= held {
            return Ok(());
        }
        if self.used > self.most {
            return Err(ApiError::PayloadTooLarge(format!(
                "the records of this body would take more than {} bytes of memory \
                 (each repeats the attributes or labels its batch shares); send fewer records per request",
                self.most
            )));
        }
        let more = (self.used - held).max(Self::STEP).min(self.most - held);
        reserve(self.budget, self.held, more)
    }
}

/// Runs `decode` with an account of at most `most` bytes of record memory,
/// as a request would have it.
#[cfg(test)]
fn with_record_memory<T>(most: usize, decode: impl FnOnce(&mut RecordMemory) -> T) -> T {
    let budget = Arc::new(Semaphore::new(most));
    let mut held = None;
    decode(&mut RecordMemory::new(&mut held, &budget, most))
}

/// About the memory a record takes: its struct, its text, and the map
/// nodes of its attributes.
fn memory_of(record: &LogRecord) -> usize {
    const PER_ATTRIBUTE: usize = 2 * std::mem::size_of::<String>() + 16;
    let tags = [&record.host, &record.trace_id, &record.span_id];
    std::mem::size_of::<LogRecord>()
        + record.id.len()
        + record.service.len()
        + record.message.len()
        + tags
            .iter()
            .filter_map(|t| t.as_ref())
            .map(String::len)
            .sum::<usize>()
        + record
            .attributes
            .iter()
            .map(|(k, v)| PER_ATTRIBUTE + k.len() + v.len())
            .sum::<usize>()
}

/// Adds `bytes` of the ingest budget to `held`, or says the budget is
/// spent (429: other requests will give theirs back).
fn reserve(
    budget: &Arc<Semaphore>,
    held: &mut Option<OwnedSemaphorePermit>,
    bytes: usize,
) -> Result<(), ApiError> {
    let wanted = u32::try_from(bytes).map_err(|_| {
        ApiError::PayloadTooLarge("a single body chunk is too large to reserve memory for".into())
    })?;
    let permit = Arc::clone(budget)
        .try_acquire_many_owned(wanted)
        .map_err(|_| ApiError::Overloaded {
            error: "the daemon is reading too many request bodies at once (--max-ingest-memory); retry later".into(),
            retry_after: Duration::from_secs(1),
        })?;
    match held {
        Some(held) => held.merge(permit),
        None => *held = Some(permit),
    }
    Ok(())
}

/// The request's body within the daemon's limits (size after decompression,
/// time to arrive, memory budget). Gzip is decoded here; a
/// `Content-Encoding` that the decompression layer left (it decodes and
/// removes deflate and zstd) is refused unless it is one of
/// `own_encodings`, which the caller decodes. The router has made the
/// header lowercase and left `identity` out (see
/// `api::normalize_content_encoding`).
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
    own_encodings: &[&str],
) -> Result<IngestBody, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let gzip = matches!(encoding.as_deref(), Some("gzip" | "x-gzip"));
    if let Some(encoding) = encoding.filter(|e| !gzip && !own_encodings.contains(&e.as_str())) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding \"{encoding}\" is not supported here; accepted: gzip, deflate, zstd{}",
            own_encodings
                .iter()
                .map(|e| format!(", {e}"))
                .collect::<String>()
        )));
    }
    let (bytes, reserved) =
        read_body_within(body, gzip, state.limits, &state.ingest_memory).await?;
    Ok(IngestBody { bytes, reserved })
}

/// Hands `records` to the sink and resolves once they are durable (or once
/// it is known that an identical request under the same `Idempotency-Key`
/// was stored before). `body` is what the key's fingerprint is taken of.
async fn submit(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    records: Vec<LogRecord>,
) -> Result<Submitted, ApiError> {
    let key = idempotency_key(headers, body, &records)?;
    let place = order_place(headers)?;
    let count = records.len() as u64;
    let turn = match place {
        Some(place) => state.order.turn(place).await,
        None => Turn::default(),
    };
    let submitted = state
        .sink
        .submit(records, key, turn)
        .await
        .inspect_err(|e| {
            if matches!(e, SinkError::DiskFull) {
                state.metrics.disk_full_records.inc_by(count);
            }
        })?;
    if submitted == Submitted::Stored {
        state.metrics.ingested_records.inc_by(count);
    }
    Ok(submitted)
}

/// The media type of the request, lowercase and without parameters
/// (`application/json; charset=utf-8` is `application/json`).
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Where the request stands among its client's batches, if it says so
/// (`LogStream-Order`, see [`crate::ingest::order`]).
fn order_place(headers: &HeaderMap) -> Result<Option<Place>, ApiError> {
    let Some(value) = headers.get(order::HEADER) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::bad_request("LogStream-Order must be visible ASCII characters".to_string())
    })?;
    value.parse().map(Some).map_err(ApiError::bad_request)
}

/// The longest accepted `Idempotency-Key`.
pub(super) const MAX_KEY_LEN: usize = 200;

/// The request's `Idempotency-Key` with a digest of its (decompressed) body
/// and the ids of its `records`.
fn idempotency_key(
    headers: &HeaderMap,
    body: &[u8],
    records: &[LogRecord],
) -> Result<Option<IdempotencyKey>, ApiError> {
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
    let fingerprint = hex(&digest);
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        fingerprint,
        ids: records.iter().map(|r| r.id.clone()).collect(),
    }))
}

/// Memory reserved per body byte: the body itself plus the parsed JSON
/// values, which for small records (a map node per object) take twenty-odd
/// times the size of their text.
pub const MEMORY_PER_BODY_BYTE: usize = 32;

/// The whole body, decoded (from gzip if `gzip`), within the size limit and
/// the request timeout. Memory for it is reserved from the ingest budget as
/// it arrives, so many large bodies at once get 429 instead of exhausting
/// memory; the reservation lasts as long as the returned permit.
async fn read_body_within(
    body: axum::body::Body,
    gzip: bool,
    limits: HttpLimits,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), ApiError> {
    let reading = async {
        let mut body = body;
        let collected = Collected {
            buffer: BytesMut::new(),
            reserved: None,
            limits,
            budget,
            refused: None,
        };
        let mut decoder = if gzip {
            Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(collected)))
        } else {
            Decoder::Identity(collected)
        };
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            })?;
            if let Ok(data) = frame.into_data() {
                decoder.write(&data)?;
            }
        }
        let collected = decoder.finish()?;
        Ok((collected.buffer.freeze(), collected.reserved))
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

/// A body's bytes on their way into [`Collected`].
enum Decoder<'a> {
    Identity(Collected<'a>),
    /// Gzip of one member or several, one after another (boxed: the
    /// decoder's state is large).
    Gzip(Box<flate2::write::MultiGzDecoder<Collected<'a>>>),
}

impl<'a> Decoder<'a> {
    fn write(&mut self, data: &[u8]) -> Result<(), ApiError> {
        match self {
            Decoder::Identity(collected) => collected.take(data),
            Decoder::Gzip(decoder) => decoder
                .write_all(data)
                .map_err(|e| Decoder::gzip_error(decoder.get_mut(), &e)),
        }
    }

    /// The body, once it is all there; a gzip body that stops short is an
    /// error.
    fn finish(self) -> Result<Collected<'a>, ApiError> {
        match self {
            Decoder::Identity(collected) => Ok(collected),
            Decoder::Gzip(mut decoder) => {
                decoder
                    .try_finish()
                    .map_err(|e| Decoder::gzip_error(decoder.get_mut(), &e))?;
                decoder.finish().map_err(|e| {
                    ApiError::bad_request(format!("request body is not valid gzip: {e}"))
                })
            }
        }
    }

    /// Why gzip decoding stopped: the body's limits, or bad gzip.
    fn gzip_error(collected: &mut Collected<'_>, error: &std::io::Error) -> ApiError {
        collected.refused.take().unwrap_or_else(|| {
            ApiError::bad_request(format!("request body is not valid gzip: {error}"))
        })
    }
}

/// A body's decoded bytes as they come, within the size limit and with
/// memory reserved from the ingest budget for each. As an `io::Write` (what
/// the gzip decoder writes into) it keeps why it refused bytes in
/// `refused`.
struct Collected<'a> {
    buffer: BytesMut,
    reserved: Option<OwnedSemaphorePermit>,
    limits: HttpLimits,
    budget: &'a Arc<Semaphore>,
    refused: Option<ApiError>,
}

impl Collected<'_> {
    fn take(&mut self, data: &[u8]) -> Result<(), ApiError> {
        if self.buffer.len() + data.len() > self.limits.max_body_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "request body is over the limit of {} bytes (after decompression); send smaller batches",
                self.limits.max_body_bytes
            )));
        }
        reserve(
            self.budget,
            &mut self.reserved,
            data.len() * MEMORY_PER_BODY_BYTE,
        )?;
        self.buffer.extend_from_slice(data);
        Ok(())
    }
}

impl std::io::Write for Collected<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.take(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                let refusal = std::io::Error::other(e.message());
                self.refused = Some(e);
                Err(refusal)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_past_the_first_few_are_only_counted() {
        let mut rejected = Rejections::default();
        for index in 0..1_000_000 {
            rejected.push_with(|| Rejected {
                index,
                reason: "x".repeat(10_000),
            });
        }
        assert_eq!(rejected.kept.len(), Rejected::SHOWN);
        let summary = Rejected::summary(&rejected);
        assert!(summary.starts_with("1000000 record(s) could not be taken: record 0: xxx"));
        assert!(
            summary.ends_with("…; and 999990 more"),
            "{}",
            &summary[summary.len() - 40..]
        );
        assert!(summary.len() < 10 * (Rejected::MAX_REASON + 20) + 100);

        let mut details = Details::default();
        for _ in 0..1000 {
            details.push_detail(|| FieldError {
                index: None,
                field: "é".repeat(1000),
                message: "m".repeat(100_000),
            });
        }
        let ApiError::BadRequest { error, details } = details.into_error("bad".into()) else {
            panic!("a 400");
        };
        assert_eq!(error, "bad; details lists the first 100");
        assert_eq!(details.len(), MAX_ERROR_DETAILS);
        assert!(details[0].message.len() <= MAX_DETAIL_MESSAGE + '…'.len_utf8());
        assert!(details[0].field.len() <= MAX_DETAIL_FIELD + '…'.len_utf8());
    }
}
