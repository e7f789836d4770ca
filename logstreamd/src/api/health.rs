//! `GET /api/health`: the seed's liveness check, which also asks the store
//! and, where the process runs a worker, whether it is consuming (503 with
//! the reason when not, so that a supervisor sees a stalled worker). While
//! the store's disk is full it answers `507 Insufficient Storage` with the
//! status `disk_full`, and `ok` again by itself once writes succeed.
//!
//! It is open to anyone, for health checks, so once tokens are configured
//! it names the store (a path or URL, which tells where the data lives)
//! only to a request with a `read` or `admin` token.
//!
//! `GET /ready` (Loki's readiness, which Vector checks before it sends)
//! asks the same questions and answers in plain text.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use logstream_shared::api::Health;

use super::auth::{Scope, Tokens};
use super::{ApiError, AppState};
use crate::ingest::health::WorkerHealth;
use crate::store::Store;

/// Says a disk is full without naming the store's path, which only
/// readers may learn (the daemon's log has the details).
const DISK_FULL: &str = "the store's disk is full: ingest is refused until space is freed";

pub(super) fn router<S>() -> Router<S>
where
    Arc<dyn Store>: FromRef<S>,
    Option<WorkerHealth>: FromRef<S>,
    Tokens: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/api/health", get(health))
}

async fn health(
    State(store): State<Arc<dyn Store>>,
    State(worker): State<Option<WorkerHealth>>,
    State(tokens): State<Tokens>,
    headers: HeaderMap,
) -> Response {
    let answer = |status: &str, error: Option<String>| Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: tokens
            .allow(&headers, Scope::Read)
            .then(|| store.describe()),
        error,
    };
    match problem(store.as_ref(), worker.as_ref()).await {
        None => Json(answer("ok", None)).into_response(),
        Some(ApiError::DiskFull { error, .. }) => (
            StatusCode::INSUFFICIENT_STORAGE,
            Json(answer("disk_full", Some(error))),
        )
            .into_response(),
        Some(problem) => problem.into_response(),
    }
}

/// `GET /ready`: `ready`, or why not in the status and text of
/// [`problem`].
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    match problem(state.store.as_ref(), state.worker.as_ref()).await {
        None => "ready".into_response(),
        Some(problem) => problem.render_as("text/plain; charset=utf-8", |_, message| {
            format!("{message}\n").into_bytes()
        }),
    }
}

/// Why the daemon cannot serve: its disk is full (507), or the store or
/// the worker is unavailable (503).
async fn problem(store: &dyn Store, worker: Option<&WorkerHealth>) -> Option<ApiError> {
    let unavailable = |error: String| ApiError::Unavailable {
        error,
        retry_after: std::time::Duration::from_secs(5),
    };
    match store.health().await {
        // The store logged why when the disk filled up.
        Err(e) if e.is_disk_full() => return Some(ApiError::disk_full(DISK_FULL)),
        Err(e) => return Some(unavailable(format!("store is not healthy: {e}"))),
        Ok(()) => {}
    }
    worker.and_then(WorkerHealth::problem).map(unavailable)
}
