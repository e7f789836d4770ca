//! `GET /api/health`: the seed's liveness check, which also asks the store
//! and, where the process runs a worker, whether it is consuming (503 with
//! the reason when not, so that a supervisor sees a stalled worker).
//!
//! It is open to anyone, for health checks, so once tokens are configured
//! it names the store (a path or URL, which tells where the data lives)
//! only to a request with a `read` or `admin` token.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use logstream_shared::api::Health;

use super::ApiError;
use super::auth::{Scope, Tokens};
use crate::ingest::health::WorkerHealth;
use crate::store::Store;

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
) -> Result<Json<Health>, ApiError> {
    let unavailable = |error: String| ApiError::Unavailable {
        error,
        retry_after: std::time::Duration::from_secs(5),
    };
    store
        .health()
        .await
        .map_err(|e| unavailable(format!("store is not healthy: {e}")))?;
    if let Some(problem) = worker.and_then(|w| w.problem()) {
        return Err(unavailable(problem));
    }
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: tokens
            .allow(&headers, Scope::Read)
            .then(|| store.describe()),
    }))
}
