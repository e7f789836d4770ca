//! `GET /api/logs` (query language, time range, keyset pages) and the seed's
//! `GET /api/ingest/logs?service=&level=&limit=`, which is the same search.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use logstream_shared::api::{DEFAULT_PAGE_SIZE, LogsPage, MAX_PAGE_SIZE, SearchParams};
use logstream_shared::query::{Field, Filter, LevelFilter};
use logstream_shared::{FieldError, Level};

use super::{ApiError, AppState, invalid, invalid_params, query_params, selection};
use crate::store::{Cursor, SearchRequest};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/logs", get(search))
        .route("/api/ingest/logs", get(search))
}

async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<LogsPage>, ApiError> {
    let request = search_request(query_params(params)?).map_err(invalid_params)?;
    let page = state.store.search(request).await?;
    Ok(Json(LogsPage {
        status: "success".into(),
        result: page.records.len(),
        data: page.records,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

fn search_request(params: SearchParams) -> Result<SearchRequest, FieldError> {
    let mut selection = selection(
        params.q.as_deref(),
        params.since.as_deref(),
        params.until.as_deref(),
        Utc::now(),
    )?;
    if let Some(service) = params.service.filter(|s| !s.is_empty()) {
        let values = service.split(',').map(str::to_string).collect();
        selection.query.push(Filter::Field {
            field: Field::Service,
            values,
        });
    }
    if let Some(level) = params.level.filter(|s| !s.is_empty()) {
        let level: Level = level
            .parse()
            .map_err(|e: logstream_shared::UnknownLevel| invalid("level", e.to_string()))?;
        selection
            .query
            .push(Filter::Level(LevelFilter::AnyOf(vec![level])));
    }
    let limit = params.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("{limit} is out of range; accepted: 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    let after = params
        .cursor
        .filter(|s| !s.is_empty())
        .map(|text| {
            Cursor::decode(&text).ok_or_else(|| {
                invalid(
                    "cursor",
                    "is not a cursor this server issued (use next_cursor from a previous page)",
                )
            })
        })
        .transpose()?;
    Ok(SearchRequest {
        selection,
        limit,
        after,
    })
}
