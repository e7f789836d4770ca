//! What the query language means, in plain Rust: the answer every store
//! (and every SQL dialect) must give, written without SQL so that a mistake
//! the engines share still shows.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use logstream_shared::api::Direction;
use logstream_shared::query::{Answer, Table, eval};
use logstream_shared::{Level, LogRecord};
use logstreamd::store::{
    Cursor, FacetCount, FacetField, FacetRequest, HistogramCount, HistogramRequest, SearchPage,
    SearchRequest, Selection, TableRequest,
};

/// The records a store holds, and its answers to requests. Which records a
/// query matches is `Selection::matcher`, the in-memory filter of the live
/// tail.
pub(crate) struct Model {
    /// Newest first, ties by id, descending: the search order.
    pub(crate) records: Vec<LogRecord>,
}

impl Model {
    pub(crate) fn new(records: &[LogRecord]) -> Model {
        let mut records = records.to_vec();
        records.sort_by(|a, b| (b.timestamp_nanos(), &b.id).cmp(&(a.timestamp_nanos(), &a.id)));
        Model { records }
    }

    /// What a store holds after it inserted `batch` too.
    pub(crate) fn insert(&mut self, batch: &[LogRecord]) {
        let mut all = self.records.clone();
        all.extend_from_slice(batch);
        *self = Model::new(&all);
    }

    /// What a store keeps after `Store::drop_days_before(first_kept)`.
    pub(crate) fn drop_days_before(&mut self, first_kept: NaiveDate) {
        let cutoff = first_kept.and_hms_opt(0, 0, 0).unwrap().and_utc();
        let kept: Vec<LogRecord> = self
            .records
            .iter()
            .filter(|r| r.timestamp >= cutoff)
            .cloned()
            .collect();
        *self = Model::new(&kept);
    }

    /// The selected records, newest first.
    pub(crate) fn selected<'a>(
        &'a self,
        selection: &'a Selection,
    ) -> impl Iterator<Item = &'a LogRecord> {
        let matcher = selection.matcher();
        self.records
            .iter()
            .filter(move |record| matcher.matches(record))
    }

    /// The page of the first `limit` selected records past the cursor. The
    /// paging is the model's own, not `SearchPage::of` that the stores use:
    /// a next page exists exactly when selected records are left over, and
    /// its cursor is the last record's time and id.
    pub(crate) fn search(&self, request: &SearchRequest) -> SearchPage {
        assert!(request.limit > 0, "the API never asks for an empty page");
        let key = |r: &LogRecord| (r.timestamp_nanos(), r.id.clone());
        let past = |r: &&LogRecord| {
            request.after.as_ref().is_none_or(|after| {
                let after = (after.ts_ns, after.id.clone());
                match request.direction {
                    Direction::Backward => key(r) < after,
                    Direction::Forward => key(r) > after,
                }
            })
        };
        let mut past_cursor: Vec<&LogRecord> =
            self.selected(&request.selection).filter(past).collect();
        if request.direction == Direction::Forward {
            past_cursor.reverse();
        }
        let (page, left_over) = past_cursor.split_at(past_cursor.len().min(request.limit));
        let next = match (page.last(), left_over.is_empty()) {
            (Some(last), false) => Some(Cursor {
                ts_ns: last.timestamp_nanos(),
                id: last.id.clone(),
            }),
            _ => None,
        };
        SearchPage {
            records: page.iter().map(|r| (*r).clone()).collect(),
            next,
        }
    }

    /// A table query's answer: `query::eval` over the records in the range.
    pub(crate) fn table(&self, request: &TableRequest) -> Table {
        let selection = &request.selection;
        let in_range: Vec<LogRecord> = self
            .records
            .iter()
            .filter(|r| {
                let ts = r.timestamp_nanos();
                selection.since_ns.is_none_or(|s| ts >= s)
                    && selection.until_ns.is_none_or(|u| ts < u)
            })
            .cloned()
            .collect();
        match eval::evaluate(&selection.query, &in_range, request.limit) {
            Answer::Table(table) => table,
            Answer::Records(_) => panic!("{} makes no table", selection.query),
        }
    }

    pub(crate) fn histogram(&self, request: &HistogramRequest) -> Vec<HistogramCount> {
        let mut counts: BTreeMap<(i64, u8), u64> = BTreeMap::new();
        let (origin, step) = (i128::from(request.origin_ns), i128::from(request.step_ns));
        for r in self.selected(&request.selection) {
            let ts = i128::from(r.timestamp_nanos());
            if ts < origin {
                continue;
            }
            let bucket = origin + (ts - origin) / step * step;
            let bucket = i64::try_from(bucket).expect("a bucket starts at or before its record");
            *counts.entry((bucket, r.level.as_u8())).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((bucket_start_ns, level), count)| HistogramCount {
                bucket_start_ns,
                level: Level::from_u8(level).unwrap(),
                count,
            })
            .collect()
    }

    pub(crate) fn facets(&self, request: &FacetRequest) -> Vec<FacetCount> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for r in self.selected(&request.selection) {
            // Levels are grouped and ordered by their number, then named.
            let value = match request.field {
                FacetField::Service => Some(r.service.clone()),
                FacetField::Level => Some(r.level.as_u8().to_string()),
                FacetField::Host => r.host.clone(),
            };
            if let Some(value) = value {
                *counts.entry(value).or_default() += 1;
            }
        }
        let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
        counts.sort_by(|(va, na), (vb, nb)| nb.cmp(na).then(va.cmp(vb)));
        counts.truncate(request.limit);
        counts
            .into_iter()
            .map(|(value, count)| FacetCount {
                value: level_name(request.field, value),
                count,
            })
            .collect()
    }
}

/// Facet values for people: levels are counted by number, shown by name.
pub(crate) fn level_name(field: FacetField, value: String) -> String {
    match field {
        FacetField::Level => Level::from_u8(value.parse().unwrap())
            .unwrap()
            .as_str()
            .to_string(),
        _ => value,
    }
}
