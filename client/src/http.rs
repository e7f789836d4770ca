//! The daemon's HTTP API: one client that sends the token with every
//! request and tells a failure worth retrying from a refusal.

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use logstream_shared::Secret;
use logstream_shared::api::{
    ContextPage, ContextParams, ErrorBody, LogsAnswer, LogsPage, SearchParams, TailParams,
};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A request with an end (all but the live tail) that takes longer failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request failed, and whether it is worth retrying.
#[derive(Debug)]
pub enum ApiFailure {
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
pub struct Client {
    http: reqwest::Client,
    server: String,
}

impl ApiFailure {
    /// 401 or 403: the token is missing, unknown, or lacks the scope. Sending
    /// again with the same token cannot help.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, ApiFailure::Rejected { status, .. }
            if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN)
    }
}

impl Client {
    /// A client of the daemon at `server`, sending `token` with every
    /// request; `user_agent` names the program (`lsctl/0.1.0`).
    pub fn new(
        server: &str,
        token: Option<&Secret>,
        user_agent: &str,
    ) -> Result<Client, Box<dyn std::error::Error + Send + Sync>> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))?;
            // Kept out of debug output and HTTP/2 header compression tables.
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        // No overall timeout here: the live tail's answer never ends. Each
        // request with an end sets `REQUEST_TIMEOUT`.
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(user_agent)
            .build()?;
        Ok(Client {
            http,
            server: server.trim_end_matches('/').to_string(),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// One attempt to store a batch of NDJSON (sent gzip-compressed), named
    /// by `key` so that the daemon stores a retried batch once; `order` is
    /// its `LogStream-Order` place, when several batches are in flight.
    pub async fn ingest(
        &self,
        ndjson: &[u8],
        key: &str,
        order: Option<&str>,
    ) -> Result<(), ApiFailure> {
        let mut body = GzEncoder::new(Vec::new(), Compression::fast());
        body.write_all(ndjson).expect("writing to memory");
        let body = body.finish().expect("writing to memory");
        let mut request = self
            .http
            .post(format!("{}/api/ingest", self.server))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .header("idempotency-key", key)
            .timeout(REQUEST_TIMEOUT)
            .body(body);
        if let Some(order) = order {
            request = request.header("logstream-order", order);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.check(response).await.map(drop)
    }

    pub async fn search(&self, params: &SearchParams) -> Result<LogsPage, ApiFailure> {
        self.get("/api/logs", params).await
    }

    /// `GET /api/logs` for a query that may answer with a table.
    pub async fn answer(&self, params: &SearchParams) -> Result<LogsAnswer, ApiFailure> {
        self.get("/api/logs", params).await
    }

    /// `GET /api/tail`: the open event stream, resuming after `last_event_id`.
    pub async fn tail(
        &self,
        params: &TailParams,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, ApiFailure> {
        let mut request = self
            .http
            .get(format!("{}/api/tail", self.server))
            .header(header::ACCEPT, "text/event-stream")
            // A compressed stream may be held back in the compressor's buffer.
            .header(header::ACCEPT_ENCODING, "identity")
            .query(params);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.check(response).await
    }

    /// `GET /api/logs/{id}/context`: a record between its neighbours.
    pub async fn context(
        &self,
        id: &str,
        params: &ContextParams,
    ) -> Result<ContextPage, ApiFailure> {
        self.get(&context_path(id), params).await
    }

    /// `GET path` with query parameters, answered with JSON.
    pub async fn get<P: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        params: &P,
    ) -> Result<T, ApiFailure> {
        let response = self
            .http
            .get(format!("{}{path}", self.server))
            .query(params)
            .timeout(REQUEST_TIMEOUT)
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
        ApiFailure::Retryable {
            reason: format!(
                "cannot reach the LogStream daemon at {} ({})",
                self.server,
                error_chain(&e)
            ),
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

/// `/api/logs/{id}/context` with the id percent-encoded as a path segment
/// (ids are the client's choice and may hold `/`, `?` or spaces).
fn context_path(id: &str) -> String {
    let mut url = reqwest::Url::parse("http://path.only/").expect("a valid URL");
    url.path_segments_mut()
        .expect("an http URL has path segments")
        .extend(["api", "logs", id, "context"]);
    url.path().to_string()
}

/// ": message (details)" of an error body.
pub fn describe_error(error: &ErrorBody) -> String {
    let details: Vec<String> = error.details.iter().map(ToString::to_string).collect();
    if details.is_empty() {
        format!(": {}", error.error)
    } else {
        format!(": {} ({})", error.error, details.join("; "))
    }
}

/// The root cause ("Connection refused"): reqwest's own message only says
/// "error sending request for url (…)".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(
            context_path("a/b c?d%"),
            "/api/logs/a%2Fb%20c%3Fd%25/context"
        );
    }
}
