//! `GET /api/tail`: the live tail as Server-Sent Events (see
//! `logstream_shared::api::TailParams` for the protocol).

use std::convert::Infallible;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use chrono::Utc;
use futures::{Stream, StreamExt};
use logstream_shared::api::{TAIL_LAGGED_EVENT, TAIL_RECORD_EVENT, TailLagged, TailParams};

use super::{ApiError, AppState, invalid, invalid_params, query_params, refuse_pipes, selection};
use crate::tail::{TailError, TailItem, TailStart};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/tail", get(tail))
}

async fn tail(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<TailParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let params = query_params(params)?;
    let source = state.tail.clone().ok_or_else(|| ApiError::Unavailable {
        error: "the live tail needs the embedded store or a Kafka queue (--queue); \
                this daemon writes straight to ClickHouse"
            .into(),
        retry_after: std::time::Duration::from_secs(3600),
    })?;
    let selected = selection(
        params.q.as_deref(),
        params.since.as_deref(),
        None,
        Utc::now(),
    )
    .map_err(invalid_params)?;
    refuse_pipes(&selected, false).map_err(invalid_params)?;
    // A reconnecting EventSource sends the last id it saw as this header.
    // An empty cursor is none, as on `GET /api/logs`.
    let resume = headers
        .get("last-event-id")
        .map(|value| value.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| invalid_params(invalid("Last-Event-ID", "must be text")))?
        .filter(|id| !id.is_empty())
        .or(params.cursor.filter(|cursor| !cursor.is_empty()));
    let start = match (resume, selected.since_ns) {
        (Some(cursor), since) => TailStart::After { cursor, since },
        (None, Some(since)) => TailStart::Since(since),
        (None, None) => TailStart::Now,
    };
    let items = source
        .follow(selected.query, start)
        .await
        .map_err(|e| match e {
            TailError::BadCursor(_) => invalid_params(invalid("cursor", e.to_string())),
            TailError::Unavailable(_) => ApiError::Unavailable {
                error: e.to_string(),
                retry_after: std::time::Duration::from_secs(1),
            },
            TailError::Busy(_) => ApiError::Unavailable {
                error: e.to_string(),
                retry_after: std::time::Duration::from_secs(5),
            },
        })?;
    // Streams end at shutdown, so that draining does not wait for them.
    let mut stop = state.stop.clone();
    let stopping = async move {
        let _ = stop.wait_for(|signals| *signals >= 1).await;
    };
    let events = items.take_until(stopping).map(|item| Ok(event(item)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn event(item: TailItem) -> Event {
    match item {
        TailItem::Record { cursor, record } => Event::default()
            .event(TAIL_RECORD_EVENT)
            .id(cursor)
            .json_data(record)
            .expect("a LogRecord always serializes"),
        TailItem::Lagged { resume } => Event::default()
            .event(TAIL_LAGGED_EVENT)
            .json_data(TailLagged {
                error: "this client fell too far behind the live tail; reconnect with \
                        Last-Event-ID (or cursor=) set to the last id received"
                    .into(),
                resume,
            })
            .expect("TailLagged always serializes"),
    }
}
