//! `GET /metrics`: Prometheus' text format.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

pub(super) fn router<S>() -> Router<S>
where
    Arc<Metrics>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}
