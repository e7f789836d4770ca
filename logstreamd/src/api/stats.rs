//! `GET /api/stats/histogram` and `GET /api/stats/facets`: counts over the
//! records a query selects, for rate charts and top-value lists (table
//! queries underneath: `store::counts`); `GET /api/fields`.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use logstream_shared::api::{
    FacetParams, FacetValue, Facets, FieldCount, FieldList, FieldsParams, Histogram,
    HistogramBucket, HistogramParams,
};
use logstream_shared::query::Name;

use super::{ApiError, AppState, invalid, invalid_params, query_params, refuse_pipes, selection};
use crate::store::{FacetRequest, HistogramRequest, Selection, counts};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stats/histogram", get(histogram))
        .route("/api/stats/facets", get(facets))
        .route("/api/fields", get(fields))
}

/// The most buckets one histogram may have.
const MAX_BUCKETS: i64 = 10_000;
/// Buckets a histogram has when no step is given, about.
const DEFAULT_BUCKETS: i64 = 60;
/// Widths, in seconds, that a default step is rounded up to.
const NICE_STEPS: [i64; 19] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
    604_800,
];
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const DEFAULT_FACET_LIMIT: usize = 10;
const DEFAULT_FIELDS_LIMIT: usize = 100;
const MAX_FACET_LIMIT: usize = 1000;

/// The smallest nice step that gives at most about `DEFAULT_BUCKETS` buckets.
fn default_step_ns(range_ns: i64) -> i64 {
    let wanted = range_ns / DEFAULT_BUCKETS;
    NICE_STEPS
        .iter()
        .map(|s| s * NANOS_PER_SECOND)
        .find(|step| *step >= wanted)
        .unwrap_or(NICE_STEPS[NICE_STEPS.len() - 1] * NANOS_PER_SECOND)
}

async fn histogram(
    State(state): State<AppState>,
    params: Result<Query<HistogramParams>, QueryRejection>,
) -> Result<Json<Histogram>, ApiError> {
    let params = query_params(params)?;
    let now = Utc::now();
    let mut selection = counted_selection(&params.q, &params.since, &params.until, now)?;
    let until = selection
        .until_ns
        .unwrap_or_else(|| now.timestamp_nanos_opt().unwrap_or(i64::MAX));
    let since = selection
        .since_ns
        .unwrap_or(until.saturating_sub(3600 * NANOS_PER_SECOND));
    if since >= until {
        return Err(invalid_params(invalid("since", "must be before until")));
    }
    selection.since_ns = Some(since);
    selection.until_ns = Some(until);
    let step_ns = match params.step.as_deref().filter(|s| !s.is_empty()) {
        None => default_step_ns(until.saturating_sub(since)),
        Some(text) => humantime::parse_duration(text)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .filter(|ns| *ns > 0)
            .ok_or_else(|| {
                invalid_params(invalid(
                    "step",
                    format!("\"{text}\" is not a duration like 10s, 1m or 1h"),
                ))
            })?,
    };
    // In i128: a step near i64::MAX must not overflow.
    let (step, since128) = (i128::from(step_ns), i128::from(since));
    let first = since128.div_euclid(step) * step;
    let count = (i128::from(until) - first + step - 1) / step;
    let (Ok(first), Ok(count)) = (i64::try_from(first), i64::try_from(count)) else {
        return Err(invalid_params(invalid(
            "step",
            "is larger than the time range allows",
        )));
    };
    if count > MAX_BUCKETS {
        return Err(invalid_params(invalid(
            "step",
            format!(
                "gives {count} buckets over this range; at most {MAX_BUCKETS}: choose a larger step or a shorter range"
            ),
        )));
    }

    let request = HistogramRequest { selection, step_ns };
    let counts = counts::histogram(state.store.as_ref(), &request).await?;
    let mut by_bucket: HashMap<i64, HistogramBucket> = HashMap::new();
    for c in counts {
        let bucket = by_bucket
            .entry(c.bucket_start_ns)
            .or_insert_with(|| empty_bucket(c.bucket_start_ns));
        bucket.total += c.count;
        bucket.counts.insert(c.level, c.count);
    }
    let buckets = (0..count)
        .map(|i| first + i * step_ns)
        .map(|start| {
            by_bucket
                .remove(&start)
                .unwrap_or_else(|| empty_bucket(start))
        })
        .collect();
    let step = humantime::format_duration(Duration::from_nanos(step_ns.unsigned_abs())).to_string();
    Ok(Json(Histogram {
        status: "success".into(),
        step,
        buckets,
    }))
}

fn empty_bucket(start_ns: i64) -> HistogramBucket {
    HistogramBucket {
        start: Utc.timestamp_nanos(start_ns),
        total: 0,
        counts: Default::default(),
    }
}

async fn facets(
    State(state): State<AppState>,
    params: Result<Query<FacetParams>, QueryRejection>,
) -> Result<Json<Facets>, ApiError> {
    let params = query_params(params)?;
    let selection = counted_selection(&params.q, &params.since, &params.until, Utc::now())?;
    let name = params.field.unwrap_or_else(|| "service".into());
    if name.is_empty() {
        return Err(invalid_params(invalid(
            "field",
            "name a field or an attribute: service, level, host, trace, attr.path, …",
        )));
    }
    let limit = facet_limit(params.limit, DEFAULT_FACET_LIMIT)?;
    let request = FacetRequest {
        selection,
        name: Name::from_text(&name),
        limit,
    };
    let counts = counts::facets(state.store.as_ref(), &request).await?;
    let values = counts
        .into_iter()
        .map(|c| FacetValue {
            value: c.value,
            count: c.count,
        })
        .collect();
    Ok(Json(Facets {
        status: "success".into(),
        field: name,
        values,
    }))
}

/// The records a counting endpoint counts: `q` (filters, `where`,
/// `extract`; not the table stages), `since` and `until`.
fn counted_selection(
    q: &Option<String>,
    since: &Option<String>,
    until: &Option<String>,
    now: chrono::DateTime<Utc>,
) -> Result<Selection, ApiError> {
    let selection =
        selection(q.as_deref(), since.as_deref(), until.as_deref(), now).map_err(invalid_params)?;
    refuse_pipes(&selection, true).map_err(invalid_params)?;
    Ok(selection)
}

fn facet_limit(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=MAX_FACET_LIMIT).contains(&limit) {
        return Err(invalid_params(invalid(
            "limit",
            format!("{limit} is out of range; accepted: 1 to {MAX_FACET_LIMIT}"),
        )));
    }
    Ok(limit)
}

/// `GET /api/fields`: which attributes the selected records have.
async fn fields(
    State(state): State<AppState>,
    params: Result<Query<FieldsParams>, QueryRejection>,
) -> Result<Json<FieldList>, ApiError> {
    let params = query_params(params)?;
    let selection = counted_selection(&params.q, &params.since, &params.until, Utc::now())?;
    let limit = facet_limit(params.limit, DEFAULT_FIELDS_LIMIT)?;
    let names = state.store.attribute_names(selection, limit).await?;
    Ok(Json(FieldList {
        status: "success".into(),
        fields: names
            .into_iter()
            .map(|c| FieldCount {
                name: c.value,
                count: c.count,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_steps_are_round_and_give_about_60_buckets() {
        let s = NANOS_PER_SECOND;
        assert_eq!(default_step_ns(3600 * s), 60 * s);
        assert_eq!(default_step_ns(15 * 60 * s), 15 * s);
        assert_eq!(default_step_ns(24 * 3600 * s), 1800 * s);
        assert_eq!(default_step_ns(10 * s), s);
        assert_eq!(default_step_ns(10_000 * 86_400 * s), 604_800 * s);
    }
}
