//! `GET /api/logs` (query language, time range, keyset pages in either
//! direction) and the seed's
//! `GET /api/ingest/logs?service=&level=&limit=`, which is the same search.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use logstream_shared::api::{
    Column, ContextPage, ContextParams, DEFAULT_CONTEXT, DEFAULT_PAGE_SIZE, Direction, LogsAnswer,
    LogsPage, MAX_CONTEXT, MAX_PAGE_SIZE, SearchParams, TablePage,
};
use logstream_shared::query::{Field, Filter, LevelFilter, Output, Table, Test};
use logstream_shared::{FieldError, Level, LogRecord};

use super::{ApiError, AppState, invalid, invalid_params, query_params, selection};
use crate::store::{Cursor, SearchRequest, Selection, TableRequest};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/logs", get(search))
        .route("/api/ingest/logs", get(search))
        .route("/api/logs/{id}/context", get(context))
}

/// Records, a page at a time; or the table of a query with `stats`,
/// `top` or `fields` (which has no pages: `limit` caps its rows).
async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<LogsAnswer>, ApiError> {
    let mut request = search_request(query_params(params)?).map_err(invalid_params)?;
    let query = request.search.selection.query.clone();
    if let Output::Table(_) = query.output() {
        let explicit_limit = request.explicit_limit;
        let table = state
            .store
            .table(TableRequest {
                limit: explicit_limit.unwrap_or(MAX_PAGE_SIZE),
                selection: request.search.selection,
            })
            .await?;
        return Ok(Json(LogsAnswer::Table(table_page(table))));
    }
    // A sorted or limited search is one answer, not pages.
    let whole = !query.sort_keys().is_empty() || query.limit().is_some();
    if let Some(n) = query.limit() {
        request.search.limit = request.search.limit.min(n);
    }
    let page = state.store.search(request.search).await?;
    let cursor = |c: Option<Cursor>| c.filter(|_| !whole).map(|c| c.encode());
    Ok(Json(LogsAnswer::Records(LogsPage {
        status: "success".into(),
        result: page.records.len(),
        prev_cursor: cursor(page.records.first().map(Cursor::of)),
        next_cursor: cursor(page.next),
        data: page.records,
    })))
}

/// A record and its neighbours from the same service (and host, when it
/// has one), whatever the query that found it: see [`ContextPage`].
async fn context(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<ContextParams>, QueryRejection>,
) -> Result<Json<ContextPage>, ApiError> {
    let params = query_params(params)?;
    let before = context_size("before", params.before).map_err(invalid_params)?;
    let after = context_size("after", params.after).map_err(invalid_params)?;
    let at_ns = params
        .time
        .as_deref()
        .map(|text| record_time(text).map_err(invalid_params))
        .transpose()?;
    let Some(record) = state.store.record(&id, at_ns).await? else {
        let at = params
            .time
            .map(|t| format!(" and the time {t}"))
            .unwrap_or_default();
        return Err(ApiError::NotFound(format!(
            "no record has the id {id:?}{at}"
        )));
    };
    let source = Selection::from(same_source(&record));
    let neighbours = |limit: usize, direction| {
        let request = SearchRequest {
            selection: source.clone(),
            limit,
            after: Some(Cursor::of(&record)),
            direction,
        };
        let store = &state.store;
        async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            store.search(request).await.map(|page| page.records)
        }
    };
    let (mut older, newer) = tokio::try_join!(
        neighbours(before, Direction::Backward),
        neighbours(after, Direction::Forward)
    )?;
    older.reverse();
    Ok(Json(ContextPage {
        status: "success".into(),
        record,
        before: older,
        after: newer,
    }))
}

/// `time=`: a record's timestamp, exact to the nanosecond.
fn record_time(text: &str) -> Result<i64, FieldError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            invalid(
                "time",
                format!("{text:?} is not a record's RFC 3339 timestamp"),
            )
        })
}

fn context_size(name: &str, requested: Option<usize>) -> Result<usize, FieldError> {
    let n = requested.unwrap_or(DEFAULT_CONTEXT);
    if n > MAX_CONTEXT {
        return Err(invalid(
            name,
            format!("{n} is out of range; accepted: 0 to {MAX_CONTEXT}"),
        ));
    }
    Ok(n)
}

/// The records from where `record` came from: its service, and its host
/// when it has one.
fn same_source(record: &LogRecord) -> logstream_shared::Query {
    let mut query = logstream_shared::Query::all();
    let sources = [
        (Field::Service, Some(&record.service)),
        (Field::Host, record.host.as_ref()),
    ];
    for (field, value) in sources {
        if let Some(value) = value {
            query.push(Filter::Field {
                field,
                test: Test::AnyOf(vec![value.clone()]),
            });
        }
    }
    query
}

fn table_page(table: Table) -> TablePage {
    TablePage {
        status: "success".into(),
        result: table.rows.len(),
        columns: table
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                kind: c.kind,
            })
            .collect(),
        rows: table
            .rows
            .iter()
            .map(|row| row.iter().map(|cell| cell.to_json()).collect())
            .collect(),
        truncated: table.truncated,
    }
}

/// A search, and the `limit` the request named (tables default to more rows
/// than pages do).
struct Search {
    search: SearchRequest,
    explicit_limit: Option<usize>,
}

fn search_request(params: SearchParams) -> Result<Search, FieldError> {
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
            test: Test::AnyOf(values),
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
    let explicit_limit = params.limit;
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
    if after.is_some() && selection.query.needs_finished_set() {
        return Err(invalid(
            "cursor",
            "a query with stats, top, fields, sort or limit has no pages",
        ));
    }
    let direction = params.direction.unwrap_or_default();
    if direction == Direction::Forward && !selection.query.sort_keys().is_empty() {
        return Err(invalid(
            "direction",
            "forward runs in time order, which a query's sort replaces; use one or the other",
        ));
    }
    Ok(Search {
        search: SearchRequest {
            selection,
            limit,
            after,
            direction,
        },
        explicit_limit,
    })
}
