//! The HTTP API: state, router, and the one error type every handler returns.

pub mod auth;
mod health;
mod ingest;

pub use ingest::MEMORY_PER_BODY_BYTE;
mod logs;
mod metrics;
pub mod openapi;
mod stats;
mod tail;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next, map_request, map_response};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use logstream_shared::FieldError;
use logstream_shared::api::ErrorBody;
use logstream_shared::query;
use logstream_shared::time::parse_time_bound;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

use self::auth::{Scope, Tokens};
use crate::ingest::health::WorkerHealth;
use crate::ingest::order::Sequencer;
use crate::ingest::{Sink, SinkError};
use crate::metrics::Metrics;
use crate::store::{Selection, Store};
use crate::tail::Tail;

/// What every handler can reach. Cloned for every request (by the router,
/// the middleware, the handler), so it is one reference count: cloning
/// and dropping a dozen shared counters per clone took about 7% of a
/// single-record POST's CPU.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct AppParts {
    pub store: Arc<dyn Store>,
    pub sink: Arc<dyn Sink>,
    pub limits: HttpLimits,
    /// Bytes of memory that request bodies being read may take, as permits.
    pub ingest_memory: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<Metrics>,
    /// Access tokens; none means the API is open.
    pub tokens: Tokens,
    /// The live tail, where the pipeline has one.
    pub tail: Option<Arc<dyn Tail>>,
    /// Counts stop signals: open tail streams end at the first.
    pub stop: tokio::sync::watch::Receiver<u32>,
    /// The worker of `--role all` with a queue, which health reports on.
    pub worker: Option<WorkerHealth>,
    /// `--detect-layouts`: records without a level or time of their own take
    /// those their message's text carries.
    pub detect_layouts: bool,
    /// Where each client's ordered batches have come to (`LogStream-Order`).
    pub order: Arc<Sequencer>,
}

/// What a worker-only process serves: its health and metrics.
#[derive(Debug, Clone)]
pub struct WorkerState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub tokens: Tokens,
    pub worker: WorkerHealth,
}

impl FromRef<AppState> for Arc<dyn Store> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.store)
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.metrics)
    }
}

impl FromRef<AppState> for Tokens {
    fn from_ref(state: &AppState) -> Self {
        state.tokens.clone()
    }
}

impl FromRef<WorkerState> for Tokens {
    fn from_ref(state: &WorkerState) -> Self {
        state.tokens.clone()
    }
}

impl FromRef<AppState> for Option<WorkerHealth> {
    fn from_ref(state: &AppState) -> Self {
        state.worker.clone()
    }
}

impl FromRef<WorkerState> for Option<WorkerHealth> {
    fn from_ref(state: &WorkerState) -> Self {
        Some(state.worker.clone())
    }
}

impl FromRef<WorkerState> for Arc<dyn Store> {
    fn from_ref(state: &WorkerState) -> Self {
        Arc::clone(&state.store)
    }
}

impl FromRef<WorkerState> for Arc<Metrics> {
    fn from_ref(state: &WorkerState) -> Self {
        Arc::clone(&state.metrics)
    }
}

/// One route: its path as the router spells it, the methods that tests call
/// it with (each answers with success given a fitting request), and the
/// scope a token needs for it (`None`: open, no token needed).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub scope: Option<Scope>,
}

const fn route(path: &'static str, methods: &'static [&'static str], scope: Scope) -> Route {
    Route {
        path,
        methods,
        scope: Some(scope),
    }
}

/// Container health checks call it without a token.
const HEALTH: Route = Route {
    path: "/api/health",
    methods: &["GET"],
    scope: None,
};

/// The OpenAPI document, open like health: it describes the API, not its data.
const OPENAPI: Route = Route {
    path: "/api/openapi.json",
    methods: &["GET"],
    scope: None,
};

/// Every route of [`router`]. The scope guard looks each request's route up
/// here, so this table is what decides who may call what: a route missing
/// from it answers 500 (see `auth::require_scope`) and cannot be served
/// unguarded by mistake.
pub const ROUTES: &[Route] = &[
    route("/api/ingest", &["POST"], Scope::Ingest),
    route("/v1/logs", &["POST"], Scope::Ingest),
    route("/loki/api/v1/push", &["POST"], Scope::Ingest),
    route("/ready", &["GET"], Scope::Ingest),
    route("/", &["GET", "HEAD"], Scope::Ingest),
    route("/_bulk", &["POST", "PUT"], Scope::Ingest),
    route("/{index}/_bulk", &["POST", "PUT"], Scope::Ingest),
    route("/_license", &["GET"], Scope::Ingest),
    route("/_xpack", &["GET"], Scope::Ingest),
    route("/_cluster/health", &["GET"], Scope::Ingest),
    // These answer any method; only a put succeeds.
    route("/_index_template/{name}", &["PUT"], Scope::Ingest),
    route("/_template/{name}", &["PUT"], Scope::Ingest),
    route("/_component_template/{name}", &["PUT"], Scope::Ingest),
    route("/_ilm/policy/{name}", &["PUT"], Scope::Ingest),
    route("/_ingest/pipeline/{name}", &["PUT"], Scope::Ingest),
    route("/api/logs", &["GET"], Scope::Read),
    route("/api/logs/{id}/context", &["GET"], Scope::Read),
    route("/api/ingest/logs", &["GET"], Scope::Read),
    route("/api/stats/histogram", &["GET"], Scope::Read),
    route("/api/stats/facets", &["GET"], Scope::Read),
    route("/api/fields", &["GET"], Scope::Read),
    route("/api/tail", &["GET"], Scope::Read),
    route("/metrics", &["GET"], Scope::Read),
    HEALTH,
    OPENAPI,
];

/// Every route of [`worker_router`], looked up like [`ROUTES`].
pub const WORKER_ROUTES: &[Route] = &[route("/metrics", &["GET"], Scope::Read), HEALTH];

/// The routes of `--role worker`: health, and metrics for readers.
pub fn worker_router(state: WorkerState) -> Router {
    let tokens = &state.tokens;
    let reads = auth::require_scope(metrics::router(), tokens, WORKER_ROUTES);
    let guarded = auth::require_token(reads, tokens);
    outer_layers(guarded.merge(health::router()).with_state(state))
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest request body, after gzip decompression.
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

/// The routes in groups by how they time out; the scope each needs is in
/// [`ROUTES`], where a new endpoint must be added too (and described in
/// [`openapi`]). Only `open` is
/// reachable without a token.
pub fn router(state: AppState) -> Router {
    let tokens = &state.tokens;
    let timeout =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.limits.request_timeout);
    // Ingest times out only while reading the body (see `ingest`): once the
    // records are handed to the sink, the answer must say whether they were
    // stored, so it is never cut short by a timeout.
    let ingest = auth::require_scope(ingest::router(&state), tokens, ROUTES);
    let reads = logs::router()
        .merge(stats::router())
        .merge(metrics::router());
    let reads = auth::require_scope(reads, tokens, ROUTES).layer(timeout);
    // A stream without end: no request timeout.
    let tail = auth::require_scope(tail::router(), tokens, ROUTES);
    // Unknown paths need a token too, so strangers learn nothing about the
    // API; an explicit fallback is the one `merge` keeps.
    let guarded = auth::require_token(
        ingest
            .merge(reads)
            .merge(tail)
            .fallback(|| async { StatusCode::NOT_FOUND }),
        tokens,
    );
    // Container health checks call it without a token; the OpenAPI
    // document describes the API, not its data.
    let open = health::router().merge(openapi::router()).layer(timeout);
    let routes = Router::new()
        .merge(guarded)
        .merge(open)
        .with_state(state)
        // Gzip is decoded by the ingest front (see `ingest`), which also
        // takes bodies of several gzip members.
        .layer(
            RequestDecompressionLayer::new()
                .no_gzip()
                .pass_through_unaccepted(true),
        )
        .layer(map_request(normalize_content_encoding))
        .layer(middleware::from_fn(elastic_product_header));
    outer_layers(routes)
}

/// `Content-Encoding` is case-insensitive and may list codings (RFC 9110),
/// but the decompression layer and the ingest front know only one
/// lowercase name: `ZSTD` would pass undecoded, `gzip, identity` be
/// refused. `identity` changes nothing, so it is left out of the list; a
/// header that lists only it is removed.
async fn normalize_content_encoding(mut request: Request) -> Request {
    let Some(value) = request.headers().get(header::CONTENT_ENCODING) else {
        return request;
    };
    let lowercase = value.as_bytes().to_ascii_lowercase();
    let codings: Vec<&[u8]> = lowercase
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty() && *coding != b"identity")
        .collect();
    let normalized = codings.join(&b", "[..]);
    if normalized.is_empty() {
        request.headers_mut().remove(header::CONTENT_ENCODING);
    } else if normalized != value.as_bytes()
        && let Ok(normalized) = HeaderValue::from_bytes(&normalized)
    {
        request
            .headers_mut()
            .insert(header::CONTENT_ENCODING, normalized);
    }
    request
}

/// Elasticsearch clients refuse any answer without their product header,
/// errors (a 401, a 429) included.
async fn elastic_product_header(request: Request, next: Next) -> Response {
    let elastic = ingest::is_elastic_path(request.uri().path());
    let mut response = next.run(request).await;
    if elastic {
        ingest::add_product_header(&mut response);
    }
    response
}

/// The longest request target (path and query string): hyper answers 414
/// to longer ones while it reads the head, a limit of its own (the `http`
/// crate's `Uri` holds no more); `serve` gives that answer our JSON body.
pub const MAX_URI_BYTES: usize = 65_534;
/// The most bytes of headers a request may have (names, values and their
/// separators), checked by [`limit_headers`].
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most headers a request may have: hyper's own limit, which it
/// answers 431 like [`MAX_HEADER_BYTES`] (so does a head past its 400 KiB
/// read buffer).
pub const MAX_HEADERS: usize = 100;

/// The JSON error bodies, the header limit and request tracing every
/// router gets.
fn outer_layers(routes: Router) -> Router {
    routes
        .layer(map_response(json_error_bodies))
        .layer(middleware::from_fn(limit_headers))
        // Request spans name the method and URI, never headers: bearer
        // tokens must not reach the log, and the Authorization header is
        // marked sensitive in case headers are ever added.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().include_headers(false)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}

/// Refuses requests whose headers take more than [`MAX_HEADER_BYTES`]:
/// hyper reads heads of up to about 400 KiB.
async fn limit_headers(request: Request, next: Next) -> Response {
    let bytes: usize = request
        .headers()
        .iter()
        // `name: value\r\n`
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return ApiError::headers_too_large().into_response();
    }
    next.run(request).await
}

/// Query-string parameters, or a 400 saying what was wrong with them.
fn query_params<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params
        .map(|Query(params)| params)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

/// A problem with one request parameter.
fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        index: None,
        field: field.into(),
        message: message.into(),
    }
}

fn invalid_params(detail: FieldError) -> ApiError {
    ApiError::BadRequest {
        error: format!("invalid request: {detail}"),
        details: vec![detail],
    }
}

/// Refuses the stages an endpoint cannot run: the live tail streams records
/// one by one (`rows_only` false: no stage at all); the histogram and facets
/// count records (`where` and `extract` are fine).
fn refuse_pipes(selection: &Selection, rows_only: bool) -> Result<(), FieldError> {
    let stages = &selection.query.stages;
    let refused = if rows_only {
        selection.query.needs_finished_set()
    } else {
        !stages.is_empty()
    };
    if !refused {
        return Ok(());
    }
    let what = if rows_only {
        "this endpoint counts records; a query with stats, top, fields, sort or limit \
         belongs in GET /api/logs"
    } else {
        "the live tail streams records as they arrive; pipes (| …) need a finished set \
         of records: run them with GET /api/logs (lsctl query)"
    };
    Err(invalid("q", what))
}

/// The records `q`, `since` and `until` select (times relative to `now`).
fn selection(
    q: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Selection, FieldError> {
    let query = match q {
        Some(q) => query::parse(q).map_err(|e| invalid("q", e.to_string()))?,
        None => query::Query::all(),
    };
    let bound = |field: &str, value: Option<&str>| -> Result<Option<i64>, FieldError> {
        value
            .filter(|s| !s.is_empty())
            .map(|text| {
                let time = parse_time_bound(text, now).map_err(|e| invalid(field, e))?;
                time.timestamp_nanos_opt()
                    .ok_or_else(|| invalid(field, "must lie between the years 1678 and 2261"))
            })
            .transpose()
    };
    Ok(Selection {
        query,
        since_ns: bound("since", since)?,
        until_ns: bound("until", until)?,
    })
}

/// Gives the errors that axum and tower-http answer by themselves (404, 405,
/// 408, 415…) the same JSON body as ours.
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    if response.extensions().get::<ProtocolAnswer>().is_some() {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let body = serde_json::to_vec(&ErrorBody {
        error,
        details: vec![],
    })
    .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// Every way a request can fail, each with its status and a JSON body
/// `{"error": …, "details": […]}`.
#[derive(Debug)]
pub enum ApiError {
    BadRequest {
        error: String,
        details: Vec<FieldError>,
    },
    /// No access token, or not a known one: 401 with `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// A known token whose scope does not cover the route.
    Forbidden(String),
    /// What the path names is not there (a record id, say).
    NotFound(String),
    PayloadTooLarge(String),
    /// A body in a format the endpoint does not take.
    UnsupportedMediaType(String),
    /// A request target over [`MAX_URI_BYTES`] (414).
    UriTooLong(String),
    /// Headers over [`MAX_HEADER_BYTES`] or [`MAX_HEADERS`] (431).
    HeadersTooLarge(String),
    /// An idempotency key sent again with another body.
    KeyReused(String),
    Timeout(String),
    Overloaded {
        error: String,
        retry_after: Duration,
    },
    Unavailable {
        error: String,
        retry_after: Duration,
    },
    /// The store's disk is full (507): nothing of the request was stored.
    DiskFull {
        error: String,
        retry_after: Duration,
    },
    Internal(anyhow::Error),
}

impl ApiError {
    /// Freeing space takes a person, so clients are asked to wait longer
    /// than for a busy daemon.
    pub fn disk_full(error: impl Into<String>) -> ApiError {
        ApiError::DiskFull {
            error: error.into(),
            retry_after: Duration::from_secs(5),
        }
    }

    pub fn uri_too_long() -> ApiError {
        ApiError::UriTooLong(format!(
            "the request target (path and query string) is longer than {MAX_URI_BYTES} bytes, \
             the most the daemon reads; shorten the query"
        ))
    }

    pub fn headers_too_large() -> ApiError {
        ApiError::HeadersTooLarge(format!(
            "the request headers are too large: the daemon reads at most {MAX_HEADER_BYTES} \
             bytes of headers and {MAX_HEADERS} headers"
        ))
    }

    pub fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            error: error.into(),
            details: Vec::new(),
        }
    }

    pub(crate) fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<SinkError> for ApiError {
    fn from(e: SinkError) -> ApiError {
        match e {
            SinkError::TooLarge { .. } | SinkError::RecordTooLarge { .. } => {
                ApiError::PayloadTooLarge(e.to_string())
            }
            SinkError::KeyReused { .. } => ApiError::KeyReused(e.to_string()),
            SinkError::Full { retry_after, .. } => ApiError::Overloaded {
                error: e.to_string(),
                retry_after,
            },
            SinkError::Unavailable(_) | SinkError::Closed => ApiError::Unavailable {
                error: e.to_string(),
                retry_after: Duration::from_secs(1),
            },
            SinkError::DiskFull => ApiError::disk_full(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        if e.is_disk_full() {
            // A query that spills to disk, or a reopened database's first read.
            tracing::warn!(error = %e, "a request failed: the store's disk is full");
            return ApiError::disk_full("the store's disk is full; retry once space is freed");
        }
        if let crate::store::StoreError::QueryTooLarge(message) = e {
            return ApiError::bad_request(message);
        }
        ApiError::Internal(e.into())
    }
}

impl ApiError {
    /// What went wrong, in words: the `error` of the JSON body. Internal
    /// errors are logged here and described only vaguely.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { error, .. }
            | ApiError::Unauthorized(error)
            | ApiError::Forbidden(error)
            | ApiError::NotFound(error)
            | ApiError::PayloadTooLarge(error)
            | ApiError::UnsupportedMediaType(error)
            | ApiError::UriTooLong(error)
            | ApiError::HeadersTooLarge(error)
            | ApiError::KeyReused(error)
            | ApiError::Timeout(error)
            | ApiError::Overloaded { error, .. }
            | ApiError::Unavailable { error, .. }
            | ApiError::DiskFull { error, .. } => error.clone(),
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                "internal error; see the daemon's log".into()
            }
        }
    }

    /// The answer in a protocol's own error format: `render` makes the body
    /// from the status and message; the status and the `Retry-After` and
    /// `WWW-Authenticate` headers are the same as for the JSON body.
    pub(crate) fn render_as(
        self,
        content_type: &'static str,
        render: impl FnOnce(StatusCode, &str) -> Vec<u8>,
    ) -> Response {
        let status = self.status_code();
        let body = render(status, &self.message());
        let mut response = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response();
        self.add_headers(&mut response);
        response.extensions_mut().insert(ProtocolAnswer);
        response
    }

    fn add_headers(&self, response: &mut Response) {
        let status = self.status_code();
        if status == StatusCode::UNAUTHORIZED {
            // Loki and Elasticsearch clients answer a Basic challenge.
            let headers = response.headers_mut();
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"logstream\""),
            );
        }
        if let ApiError::Overloaded { retry_after, .. }
        | ApiError::Unavailable { retry_after, .. }
        | ApiError::DiskFull { retry_after, .. } = self
        {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
    }
}

/// Marks a response whose body is in a protocol's own format (Loki's plain
/// text, an OTLP `Status`), which must reach the client as it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProtocolAnswer;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let details = match &self {
            ApiError::BadRequest { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            error: self.message(),
            details,
        };
        let mut response = (status, Json(body)).into_response();
        self.add_headers(&mut response);
        response
    }
}
