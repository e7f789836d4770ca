//! `GET /api/logs` (query language, time range, keyset pages) and the seed's
//! `GET /api/ingest/logs?service=&level=&limit=`, which is the same search.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use logstream_shared::api::{DEFAULT_PAGE_SIZE, LogsPage, MAX_PAGE_SIZE, SearchParams};
use logstream_shared::query::{self, Field, Filter, LevelFilter};
use logstream_shared::time::parse_time_bound;
use logstream_shared::{FieldError, Level};

use super::{ApiError, AppState};
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
    let Query(params) = params
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))?;
    let request = search_request(params).map_err(|detail| ApiError::BadRequest {
        error: format!("invalid search: {detail}"),
        details: vec![detail],
    })?;
    let page = state.store.search(request).await?;
    Ok(Json(LogsPage {
        status: "success".into(),
        result: page.records.len(),
        data: page.records,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        index: None,
        field: field.into(),
        message: message.into(),
    }
}

fn search_request(params: SearchParams) -> Result<SearchRequest, FieldError> {
    let mut query = match &params.q {
        Some(q) => query::parse(q).map_err(|e| invalid("q", e.to_string()))?,
        None => query::Query::all(),
    };
    if let Some(service) = params.service.filter(|s| !s.is_empty()) {
        let values = service.split(',').map(str::to_string).collect();
        query.push(Filter::Field {
            field: Field::Service,
            values,
        });
    }
    if let Some(level) = params.level.filter(|s| !s.is_empty()) {
        let level: Level = level
            .parse()
            .map_err(|e: logstream_shared::UnknownLevel| invalid("level", e.to_string()))?;
        query.push(Filter::Level(LevelFilter::AnyOf(vec![level])));
    }
    let now = Utc::now();
    let bound = |field: &str, value: Option<String>| -> Result<Option<i64>, FieldError> {
        value
            .filter(|s| !s.is_empty())
            .map(|text| {
                let time = parse_time_bound(&text, now).map_err(|e| invalid(field, e))?;
                time.timestamp_nanos_opt()
                    .ok_or_else(|| invalid(field, "must lie between the years 1678 and 2261"))
            })
            .transpose()
    };
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
        query,
        since_ns: bound("since", params.since)?,
        until_ns: bound("until", params.until)?,
        limit,
        after,
    })
}
