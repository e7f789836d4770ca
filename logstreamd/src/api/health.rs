//! `GET /api/health`: the seed's liveness check, which also asks the store.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use logstream_shared::api::Health;

use super::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .store
        .health()
        .await
        .map_err(|e| ApiError::Unavailable {
            error: format!("store is not healthy: {e}"),
            retry_after: std::time::Duration::from_secs(5),
        })?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: state.store.describe(),
    }))
}
