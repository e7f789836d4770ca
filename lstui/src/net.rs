//! The live tail: a Server-Sent Events client of `GET /api/tail` that
//! reconnects on its own and resumes from the last event id, so that a
//! dropped connection loses nothing and repeats nothing.
//!
//! It runs as a background task and reports through `NetEvent` actions. The
//! channel to the UI is bounded: when the UI is behind, this task waits, the
//! daemon's socket buffer fills, and the daemon ends the stream with `lagged`;
//! lstui then reconnects from its cursor. Nothing is dropped on the way.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{FutureExt, StreamExt};
use logstream_client::{ApiFailure, Backoff, Client, TailEvent, describe_error};
use logstream_shared::LogRecord;
use logstream_shared::api::{ErrorBody, TailParams};
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::{Action, NetEvent};

/// The first wait before reconnecting; it doubles up to `BACKOFF_MAX`.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Nothing at all (not even a keep-alive comment) for this long means the
/// connection is dead even if TCP has not noticed.
const STALL_TIMEOUT: Duration = Duration::from_secs(45);
/// Most records in one action: enough to keep up with 50,000 a second
/// without making one `update` long.
const BATCH: usize = 2_000;

/// What to tail, and where.
#[derive(Debug, Clone)]
pub struct TailRequest {
    /// The daemon's client, with its token.
    pub client: Client,
    /// Sent as `q`: the daemon sends only matching records.
    pub query: Option<String>,
    /// Sent as `since` on a connection without a cursor.
    pub since: Option<String>,
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// The daemon said we fell behind: reconnect at once.
    Lagged,
    /// The connection failed or closed; try again after a while.
    Retry {
        reason: String,
        /// Records arrived on it, so the daemon was fine: start backing off anew.
        delivered: bool,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help.
    Fatal(String),
    /// The UI has gone.
    Closed,
}

/// Where to resume from, kept across connections.
#[derive(Debug, Default)]
struct Resume {
    /// The id of the last event received.
    cursor: Option<String>,
    /// Used when there is no cursor yet.
    since: Option<String>,
}

/// Tails until `cancel` fires or the UI's channel closes.
pub async fn tail(request: TailRequest, tx: mpsc::Sender<Action>, cancel: CancellationToken) {
    let mut resume = Resume {
        cursor: None,
        since: request.since.clone(),
    };
    let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
    let mut attempt = 1;
    loop {
        if tx
            .send(net(NetEvent::Connecting { attempt }))
            .await
            .is_err()
        {
            return;
        }
        let ended = tokio::select! {
            () = cancel.cancelled() => return,
            ended = connect(&request, &mut resume, &tx) => ended,
        };
        let (reason, wait) = match ended {
            Ended::Closed => return,
            Ended::Fatal(reason) => {
                let _ = tx.send(net(NetEvent::Failed(reason))).await;
                return;
            }
            Ended::Lagged => {
                backoff.reset();
                attempt = 1;
                (
                    "fell behind the daemon; resuming".to_string(),
                    Duration::ZERO,
                )
            }
            Ended::Retry {
                reason,
                delivered,
                retry_after,
            } => {
                if delivered {
                    backoff.reset();
                    attempt = 1;
                }
                let wait = backoff.wait(retry_after);
                attempt += 1;
                (reason, wait)
            }
        };
        let event = NetEvent::Disconnected {
            reason,
            retry_in: wait,
        };
        if tx.send(net(event)).await.is_err() {
            return;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn net(event: NetEvent) -> Action {
    Action::Net(event)
}

/// One connection: sends records to the UI until it ends.
async fn connect(request: &TailRequest, resume: &mut Resume, tx: &mpsc::Sender<Action>) -> Ended {
    let params = TailParams {
        q: request.query.clone(),
        // Once resuming, the cursor says where.
        since: resume.since.clone().filter(|_| resume.cursor.is_none()),
        cursor: None,
    };
    let connected_at = chrono::Utc::now();
    let response = match request.client.tail(&params, resume.cursor.as_deref()).await {
        Ok(response) => response,
        Err(ApiFailure::Retryable {
            reason,
            retry_after,
        }) => {
            return Ended::Retry {
                reason,
                delivered: false,
                retry_after,
            };
        }
        Err(ApiFailure::Rejected { status, body }) => return refused(status, &body, resume),
    };
    if tx.send(net(NetEvent::Connected)).await.is_err() {
        return Ended::Closed;
    }
    // Without a cursor, a reconnection asks for what was stored since this
    // connection opened, so a drop before the first record loses nothing.
    if resume.since.is_none() {
        resume.since = Some(connected_at.to_rfc3339());
    }

    let mut events = response.bytes_stream().eventsource();
    let mut delivered = false;
    loop {
        let first = match tokio::time::timeout(STALL_TIMEOUT, events.next()).await {
            Err(_) => {
                return Ended::Retry {
                    reason: format!("nothing from the daemon for {} s", STALL_TIMEOUT.as_secs()),
                    delivered,
                    retry_after: None,
                };
            }
            Ok(next) => next,
        };
        // Take every event that is already here, up to a batch.
        let mut batch = Batch::default();
        let mut next = first;
        let ended = loop {
            match next {
                None => break Some(stream_ended("the daemon closed the stream", delivered)),
                Some(Err(e)) => {
                    break Some(stream_ended(&format!("the stream broke: {e}"), delivered));
                }
                Some(Ok(event)) => {
                    if let Some(ended) = batch.add(TailEvent::of(event), resume) {
                        break Some(ended);
                    }
                }
            }
            if batch.records.len() >= BATCH {
                break None;
            }
            match events.next().now_or_never() {
                Some(event) => next = event,
                None => break None,
            }
        };
        if batch.undecodable > 0 {
            let event = NetEvent::Undecodable {
                count: batch.undecodable,
                reason: batch.reason,
            };
            if tx.send(net(event)).await.is_err() {
                return Ended::Closed;
            }
        }
        if !batch.records.is_empty() {
            delivered = true;
            if tx
                .send(net(NetEvent::Records(batch.records)))
                .await
                .is_err()
            {
                return Ended::Closed;
            }
        }
        if let Some(ended) = ended {
            return match ended {
                Ended::Retry {
                    reason,
                    retry_after,
                    ..
                } => Ended::Retry {
                    reason,
                    delivered,
                    retry_after,
                },
                other => other,
            };
        }
    }
}

/// Records read from the events at hand.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<LogRecord>,
    undecodable: u64,
    reason: String,
}

impl Batch {
    /// Takes one event; returns how the connection ends if the event says so.
    fn add(&mut self, event: TailEvent, resume: &mut Resume) -> Option<Ended> {
        match event {
            TailEvent::Record { id, record } => {
                match record {
                    Ok(record) => self.records.push(record),
                    Err(reason) => {
                        // Skipped, counted and shown; asking again would get it again.
                        self.undecodable += 1;
                        self.reason = reason;
                    }
                }
                if !id.is_empty() {
                    resume.cursor = Some(id);
                }
                None
            }
            TailEvent::Lagged { resume: at } => {
                resume.cursor = resume.cursor.take().or(at);
                Some(Ended::Lagged)
            }
            TailEvent::Other => None,
        }
    }
}

fn stream_ended(reason: &str, delivered: bool) -> Ended {
    Ended::Retry {
        reason: reason.to_string(),
        delivered,
        retry_after: None,
    }
}

/// What a refusal means for the next attempt. A daemon whose store was
/// replaced no longer knows our cursor: start again from the time we first
/// connected rather than give up.
fn refused(status: StatusCode, body: &ErrorBody, resume: &mut Resume) -> Ended {
    let reason = |what: String| format!("{what}{}", describe_error(body));
    let retry = |what: String| Ended::Retry {
        reason: reason(what),
        delivered: false,
        retry_after: None,
    };
    match status {
        StatusCode::BAD_REQUEST if resume.cursor.is_some() && names_cursor(body) => {
            resume.cursor = None;
            retry("the daemon refused the resume cursor".into())
        }
        StatusCode::BAD_REQUEST => Ended::Fatal(reason("the daemon refused the query".into())),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ended::Fatal(reason(format!(
            "access denied ({status}); give a token with the scope \"read\" with --token, \
             LOGSTREAM_TOKEN or lsctl.toml"
        ))),
        // An older daemon, perhaps about to be upgraded: keep trying.
        StatusCode::NOT_FOUND => {
            retry("the daemon has no live tail (404 on /api/tail); it is older than lstui".into())
        }
        status => retry(format!("the daemon answered {status}")),
    }
}

/// Whether an error body blames the cursor.
fn names_cursor(body: &ErrorBody) -> bool {
    body.details
        .iter()
        .any(|d| d.field == "cursor" || d.field == "Last-Event-ID")
}

#[cfg(test)]
mod tests {
    //! The client's side of the contract against a scripted SSE server:
    //! the paths a real daemon only takes under load (lagged) or on bad input.

    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::*;

    fn record_event(id: &str) -> String {
        let record = serde_json::json!({
            "id": format!("r{id}"), "timestamp": "2026-01-01T00:00:00Z",
            "service": "api", "level": "INFO", "message": format!("m{id}"),
        });
        format!("event: record\nid: {id}\ndata: {record}\n\n")
    }

    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn request(server: String) -> TailRequest {
        TailRequest {
            client: Client::new(&server, None, "lstui-test").unwrap(),
            query: Some("service:api".into()),
            since: None,
        }
    }

    #[tokio::test]
    async fn lagged_reconnects_at_once_from_the_last_id() {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let app = Router::new()
            .route(
                "/api/tail",
                get(
                    |State(seen): State<Arc<Mutex<Vec<Option<String>>>>>, headers: HeaderMap| async move {
                        let last = headers
                            .get("last-event-id")
                            .map(|v| v.to_str().unwrap().to_string());
                        seen.lock().unwrap().push(last.clone());
                        let body = match last.as_deref() {
                            None => format!(
                                ": keep-alive\n\n{}{}event: lagged\ndata: {{\"error\":\"slow\",\"resume\":\"2\"}}\n\n",
                                record_event("1"),
                                record_event("2")
                            ),
                            Some(_) => record_event("3"),
                        };
                        ([("content-type", "text/event-stream")], body)
                    },
                ),
            )
            .with_state(Arc::clone(&seen));
        let url = serve(app).await;
        let (tx, mut rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(tail(request(url), tx, cancel.clone()));
        let mut messages = Vec::new();
        let mut lagged = false;
        while messages.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Action::Net(NetEvent::Records(records)))) => {
                    messages.extend(records.into_iter().map(|r| r.message));
                }
                Ok(Some(Action::Net(NetEvent::Disconnected { retry_in, reason }))) => {
                    if messages.len() == 2 {
                        assert_eq!(retry_in, Duration::ZERO, "{reason}");
                        lagged = true;
                    }
                }
                Ok(Some(_)) => {}
                other => panic!("no third record: {other:?} after {messages:?}"),
            }
        }
        cancel.cancel();
        task.await.unwrap();
        assert!(lagged);
        assert_eq!(messages, ["m1", "m2", "m3"]);
        assert_eq!(seen.lock().unwrap()[..2], [None, Some("2".to_string())]);
    }

    #[tokio::test]
    async fn a_refused_query_stops_with_the_daemons_reason() {
        let app = Router::new().route(
            "/api/tail",
            get(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/json")],
                    r#"{"error":"invalid query","details":[{"field":"q","message":"bad"}]}"#,
                )
                    .into_response()
            }),
        );
        let url = serve(app).await;
        let (tx, mut rx) = mpsc::channel(64);
        let task = tokio::spawn(tail(request(url), tx, CancellationToken::new()));
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Action::Net(NetEvent::Failed(reason)))) => {
                    assert!(reason.contains("invalid query (q: bad)"), "{reason}");
                    break;
                }
                Ok(Some(_)) => {}
                other => panic!("no failure: {other:?}"),
            }
        }
        task.await.unwrap();
    }
}
