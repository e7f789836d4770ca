//! What the query language means, in plain Rust: the answer every store
//! (and every SQL dialect) must give, written without SQL so that a mistake
//! the engines share still shows.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use logstream_shared::api::Direction;
use logstream_shared::query::{Answer, Cell, Field, Name, Table, eval};
use logstream_shared::{Level, LogRecord};
use logstreamd::store::{
    Cursor, FacetCount, FacetRequest, HistogramCount, HistogramRequest, SearchPage, SearchRequest,
    Selection, TableRequest,
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

    /// Buckets from the epoch, the earliest one at the earliest
    /// representable time (flooring would leave i64).
    pub(crate) fn histogram(&self, request: &HistogramRequest) -> Vec<HistogramCount> {
        let mut counts: BTreeMap<(i64, u8), u64> = BTreeMap::new();
        let step = i128::from(request.step_ns);
        for r in self.selected(&request.selection) {
            let ts = i128::from(r.timestamp_nanos());
            let bucket = i64::try_from(ts.div_euclid(step) * step).unwrap_or(i64::MIN);
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

    /// Most frequent first, ties by value as the query language orders
    /// them; records without the field are not counted.
    pub(crate) fn facets(&self, request: &FacetRequest) -> Vec<FacetCount> {
        // Cells have no order of their own to key a map by (floats); the
        // few distinct values are found by equality.
        let mut counts: Vec<(Cell, u64)> = Vec::new();
        for r in self.selected(&request.selection) {
            let value = match &request.name {
                Name::Field(Field::Service) => Cell::Text(r.service.clone()),
                Name::Level => Cell::Level(r.level),
                Name::Field(Field::Host) => match &r.host {
                    Some(host) => Cell::Text(host.clone()),
                    None => continue,
                },
                other => panic!("the model has facets of service, level and host, not {other:?}"),
            };
            match counts.iter_mut().find(|(v, _)| *v == value) {
                Some((_, n)) => *n += 1,
                None => counts.push((value, 1)),
            }
        }
        counts.sort_by(|(va, na), (vb, nb)| nb.cmp(na).then(eval::compare_cells(va, vb, false)));
        counts.truncate(request.limit);
        counts
            .into_iter()
            .map(|(value, count)| FacetCount {
                value: match value {
                    Cell::Level(level) => level.as_str().to_string(),
                    Cell::Text(text) => text,
                    other => panic!("{other:?}"),
                },
                count,
            })
            .collect()
    }
}
