//! `GET /api/health`: the seed's liveness check, which also asks the store.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use logstream_shared::api::Health;

use super::ApiError;
use crate::store::Store;

pub(super) fn router<S>() -> Router<S>
where
    Arc<dyn Store>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/api/health", get(health))
}

async fn health(State(store): State<Arc<dyn Store>>) -> Result<Json<Health>, ApiError> {
    store.health().await.map_err(|e| ApiError::Unavailable {
        error: format!("store is not healthy: {e}"),
        retry_after: std::time::Duration::from_secs(5),
    })?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: store.describe(),
    }))
}
