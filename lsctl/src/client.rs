//! The daemon's HTTP API as lsctl uses it.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use logstream_shared::Secret;
use logstream_shared::api::{ErrorBody, LogsAnswer, LogsPage, SearchParams, TailParams};
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request failed, and whether it is worth retrying.
#[derive(Debug)]
pub(crate) enum ApiFailure {
    /// The daemon could not be reached, timed out, or asked us to come back.
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The daemon refused the request; sending it again will not help.
    Rejected { status: StatusCode, body: ErrorBody },
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiFailure::Retryable { reason, .. } => f.write_str(reason),
            ApiFailure::Rejected { status, body } => {
                write!(f, "{} ({status})", body.error)?;
                // One detail is already in the error's text.
                let details = if body.details.len() == 1 {
                    &[][..]
                } else {
                    &body.details[..]
                };
                for detail in details.iter().take(10) {
                    write!(f, "\n  {detail}")?;
                }
                if body.details.len() > 10 {
                    write!(f, "\n  … and {} more", body.details.len() - 10)?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    server: String,
}

impl ApiFailure {
    /// 401 or 403: the token is missing, unknown, or lacks the scope. Sending
    /// again with the same token cannot help.
    pub(crate) fn is_access_denied(&self) -> bool {
        matches!(self, ApiFailure::Rejected { status, .. }
            if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN)
    }
}

impl Client {
    /// A client of the daemon at `server`, sending `token` with every request.
    pub(crate) fn new(server: &str, token: Option<&Secret>) -> anyhow::Result<Client> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))?;
            // Kept out of debug output and HTTP/2 header compression tables.
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("lsctl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            server: server.trim_end_matches('/').to_string(),
        })
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// One attempt to store a batch of NDJSON (sent gzip-compressed), named
    /// by `key` so that the daemon stores a retried batch once.
    pub(crate) async fn ingest(&self, ndjson: &[u8], key: &str) -> Result<(), ApiFailure> {
        let mut body = GzEncoder::new(Vec::new(), Compression::fast());
        body.write_all(ndjson).expect("writing to memory");
        let body = body.finish().expect("writing to memory");
        let request = self
            .http
            .post(format!("{}/api/ingest", self.server))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .header("idempotency-key", key)
            .body(body);
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.check(response).await.map(drop)
    }

    /// Keeps trying to store a batch until it is stored, refused, or
    /// `retry_for` has passed, backing off exponentially with jitter and
    /// honouring Retry-After. One key for every attempt: if an answer is
    /// lost after the daemon stored the batch, the retry is recognised and
    /// not stored again. Answers the outcome and the number of retries.
    pub(crate) async fn ingest_with_retries(
        &self,
        ndjson: &[u8],
        key: &str,
        retry_for: Duration,
    ) -> (Result<(), ApiFailure>, u32) {
        let started = Instant::now();
        let mut retries = 0;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.ingest(ndjson, key).await {
                Ok(()) => return (Ok(()), retries),
                Err(ApiFailure::Retryable {
                    reason,
                    retry_after,
                }) if started.elapsed() < retry_for => {
                    let jitter = rand::rng().random_range(0.5..1.0);
                    let wait = retry_after.unwrap_or(backoff.mul_f64(jitter));
                    let wait = wait.min(retry_for.saturating_sub(started.elapsed()));
                    eprintln!("lsctl: {reason}; retrying in {:.1}s", wait.as_secs_f64());
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    retries += 1;
                }
                Err(failure) => return (Err(failure), retries),
            }
        }
    }

    pub(crate) async fn search(&self, params: &SearchParams) -> Result<LogsPage, ApiFailure> {
        self.get("/api/logs", params).await
    }

    /// `GET /api/logs` for a query that may answer with a table.
    pub(crate) async fn answer(&self, params: &SearchParams) -> Result<LogsAnswer, ApiFailure> {
        self.get("/api/logs", params).await
    }

    /// `GET /api/tail`: the open event stream, resuming after `last_event_id`.
    pub(crate) async fn tail(
        &self,
        params: &TailParams,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, ApiFailure> {
        let mut request = self
            .http
            .get(format!("{}/api/tail", self.server))
            .query(params);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.check(response).await
    }

    /// `GET path` with query parameters, answered with JSON.
    pub(crate) async fn get<P: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        params: &P,
    ) -> Result<T, ApiFailure> {
        let response = self
            .http
            .get(format!("{}{path}", self.server))
            .query(params)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        response.json().await.map_err(|e| ApiFailure::Retryable {
            reason: format!("bad response from {}: {e}", self.server),
            retry_after: None,
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> ApiFailure {
        let mut reason = format!("cannot reach the LogStream daemon at {}", self.server);
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        let mut innermost = String::new();
        while let Some(err) = source {
            innermost = err.to_string();
            source = err.source();
        }
        reason.push_str(&format!(" ({innermost})"));
        ApiFailure::Retryable {
            reason,
            retry_after: None,
        }
    }

    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, ApiFailure> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| ErrorBody {
            error: text.trim().to_string(),
            details: vec![],
        });
        let retryable = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::BAD_GATEWAY
                | StatusCode::GATEWAY_TIMEOUT
                | StatusCode::REQUEST_TIMEOUT
        ) || status.is_server_error();
        if retryable {
            Err(ApiFailure::Retryable {
                reason: format!("the daemon answered {status}: {}", body.error),
                retry_after,
            })
        } else {
            Err(ApiFailure::Rejected { status, body })
        }
    }
}
