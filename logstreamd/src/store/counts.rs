//! The histogram and the facets are table queries: `| stats count() by
//! time(STEP), level` and `| top N NAME`. Every store answers them with the
//! compiler that answers the query language, so a count in the rate chart
//! is always the count a `stats` query gives.

use logstream_shared::Level;
use logstream_shared::query::{Aggregate, Cell, Function, GroupKey, Name, Stage, Step, Table};

use super::{Result, Selection, Store, StoreError, TableRequest};

/// Counts of selected records per level per time bucket: buckets are `step_ns`
/// wide and start at multiples of it from the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramRequest {
    pub selection: Selection,
    pub step_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramCount {
    pub bucket_start_ns: i64,
    pub level: Level,
    pub count: u64,
}

/// The `limit` most frequent values of a field or attribute among the
/// selected records (records without it are not counted), ties ordered as
/// `| top` orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetRequest {
    pub selection: Selection,
    pub name: Name,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// A histogram has a row per bucket and level; the API allows 10 000
/// buckets, and this bounds any other caller.
const MAX_HISTOGRAM_ROWS: usize = 1 << 24;

impl HistogramRequest {
    /// `| stats count() by time(STEP), level` over the selection.
    pub fn table_request(&self) -> TableRequest {
        let mut selection = self.selection.clone();
        let step = Step {
            text: format!("{}ns", self.step_ns),
            nanos: self.step_ns,
        };
        selection.query.stages.push(Stage::Stats {
            aggregates: vec![Aggregate {
                function: Function::Count,
                arg: None,
                alias: None,
            }],
            by: vec![GroupKey::Time(step), GroupKey::Name(Name::Level)],
        });
        TableRequest {
            selection,
            limit: MAX_HISTOGRAM_ROWS,
        }
    }

    /// The counts in the table of [`HistogramRequest::table_request`]:
    /// ordered by bucket, then level.
    pub fn counts(table: Table) -> Result<Vec<HistogramCount>> {
        if table.truncated {
            return Err(StoreError::Corrupt(format!(
                "a histogram of more than {MAX_HISTOGRAM_ROWS} rows"
            )));
        }
        table
            .rows
            .into_iter()
            .map(|row| match row.as_slice() {
                [Cell::Time(start), Cell::Level(level), Cell::Int(count)] => Ok(HistogramCount {
                    bucket_start_ns: *start,
                    level: *level,
                    count: count.unsigned_abs(),
                }),
                other => Err(unexpected("histogram", other)),
            })
            .collect()
    }
}

impl FacetRequest {
    /// `| top LIMIT NAME` over the selection.
    pub fn table_request(&self) -> TableRequest {
        let mut selection = self.selection.clone();
        selection.query.stages.push(Stage::Top {
            limit: self.limit,
            by: vec![self.name.clone()],
        });
        TableRequest {
            selection,
            limit: self.limit,
        }
    }

    /// The values and counts in the table of [`FacetRequest::table_request`]
    /// (its third column, the share, is not part of a facet).
    pub fn counts(table: Table) -> Result<Vec<FacetCount>> {
        table
            .rows
            .into_iter()
            .map(|row| match row.as_slice() {
                [value, Cell::Int(count), _share] => Ok(FacetCount {
                    value: facet_text(value),
                    count: count.unsigned_abs(),
                }),
                other => Err(unexpected("facet", other)),
            })
            .collect()
    }
}

/// A facet value as the API shows it: levels by name, times in RFC 3339.
fn facet_text(cell: &Cell) -> String {
    match cell.to_json() {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

fn unexpected(what: &str, row: &[Cell]) -> StoreError {
    StoreError::Corrupt(format!("a {what} row of unexpected cells: {row:?}"))
}

pub async fn histogram(
    store: &dyn Store,
    request: &HistogramRequest,
) -> Result<Vec<HistogramCount>> {
    HistogramRequest::counts(store.table(request.table_request()).await?)
}

pub async fn facets(store: &dyn Store, request: &FacetRequest) -> Result<Vec<FacetCount>> {
    FacetRequest::counts(store.table(request.table_request()).await?)
}
