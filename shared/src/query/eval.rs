//! A query's whole meaning over records in memory: filter, stages, tables.
//! The stores compute the same answers in SQL; this is the model the
//! differential tests hold them to (and what a client can run over the
//! records it holds).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{SecondsFormat, TimeZone, Utc};
use regex::Regex;
use serde_json::Value;

use super::{
    Aggregate, ColumnSpec, Function, GroupKey, Matcher, Name, Output, Query, SortKey, Stage, number,
};
use crate::{Level, LogRecord};

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    /// Nanoseconds since the epoch.
    Time(i64),
    Level(Level),
}

impl Cell {
    /// As the API sends it: times as RFC 3339, levels by name, a float that
    /// is not finite as null.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(n) => Value::from(*n),
            Cell::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Cell::Text(text) => Value::from(text.as_str()),
            Cell::Time(ns) => Value::from(
                Utc.timestamp_nanos(*ns)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            Cell::Level(level) => Value::from(level.as_str()),
        }
    }

    /// The value's text, for `count_distinct` and numeric reading.
    fn text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Int(n) | Cell::Time(n) => Some(n.to_string()),
            Cell::Float(x) => Some(x.to_string()),
            Cell::Text(text) => Some(text.clone()),
            Cell::Level(level) => Some(level.as_str().to_string()),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Cell::Int(n) | Cell::Time(n) => Some(*n as f64),
            Cell::Float(x) => Some(*x),
            Cell::Level(level) => Some(f64::from(level.as_u8())),
            Cell::Text(text) => number(text),
            Cell::Null => None,
        }
    }
}

/// The order every table and sort uses: text that is a number sorts by
/// value before other text (so `900` before `1000`), levels by severity,
/// and empty values last whichever the direction.
pub fn compare_cells(a: &Cell, b: &Cell, descending: bool) -> Ordering {
    let class = |c: &Cell| match c {
        Cell::Null => 2,
        Cell::Text(text) if number(text).is_none() => 1,
        _ => 0,
    };
    let by_class = class(a).cmp(&class(b));
    if by_class != Ordering::Equal {
        return by_class;
    }
    let within = match (a, b) {
        (Cell::Text(x), Cell::Text(y)) if class(a) == 1 => x.as_bytes().cmp(y.as_bytes()),
        (Cell::Null, Cell::Null) => Ordering::Equal,
        // Equal numbers written differently (`7`, `007`) by their text.
        (Cell::Text(x), Cell::Text(y)) => {
            number_order(a, b).then_with(|| x.as_bytes().cmp(y.as_bytes()))
        }
        _ => number_order(a, b),
    };
    if descending { within.reverse() } else { within }
}

fn number_order(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        // Exactly: nanosecond times are beyond a double's precision.
        (Cell::Int(x) | Cell::Time(x), Cell::Int(y) | Cell::Time(y)) => x.cmp(y),
        // As SQL compares doubles: -0 equals 0.
        _ => {
            let (x, y) = (a.number().unwrap_or(0.0), b.number().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<ColumnSpec>,
    pub rows: Vec<Vec<Cell>>,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Records(Vec<LogRecord>),
    Table(Table),
}

/// A record with the attributes the stages so far gave it.
struct Row<'a> {
    record: &'a LogRecord,
    attributes: BTreeMap<String, String>,
}

/// The records `query` selects from `records` (newest first unless sorted),
/// at most `limit` unless the query has a limit of its own; or its table.
pub fn evaluate(query: &Query, records: &[LogRecord], limit: usize) -> Answer {
    let rows = select(query, records);
    let limit = query.limit().unwrap_or(limit);
    let table = query.stages.iter().find(|s| {
        matches!(
            s,
            Stage::Stats { .. } | Stage::Top { .. } | Stage::Fields(_)
        )
    });
    let Output::Table(columns) = query.output() else {
        let mut rows = rows;
        sort_rows(&mut rows, query.sort_keys());
        rows.truncate(limit);
        return Answer::Records(rows.into_iter().map(|r| r.record.clone()).collect());
    };
    let keys = query.sort_keys();
    let mut cells = match table {
        Some(Stage::Stats { aggregates, by }) => {
            let mut cells = stats(&rows, aggregates, by);
            sort_table(&mut cells, &columns, keys, &[]);
            cells
        }
        Some(Stage::Top { limit, by }) => {
            let mut cells = top(&rows, *limit, by);
            if !keys.is_empty() {
                // Among equal sort keys, the most frequent first still.
                let count = (by.len(), true);
                sort_table(&mut cells, &columns, keys, &[count]);
            }
            cells
        }
        Some(Stage::Fields(names)) => {
            let mut rows = rows;
            sort_rows(&mut rows, keys);
            rows.iter()
                .map(|row| names.iter().map(|n| cell(n, row)).collect())
                .collect()
        }
        _ => unreachable!("a table comes from stats, top or fields"),
    };
    let truncated = cells.len() > limit;
    cells.truncate(limit);
    Answer::Table(Table {
        columns,
        rows: cells,
        truncated,
    })
}

/// The filter, then the `where` and `extract` stages.
fn select<'a>(query: &Query, records: &'a [LogRecord]) -> Vec<Row<'a>> {
    let filter = Matcher::new(&query.filter);
    let stages: Vec<RowStage> = query.stages.iter().filter_map(RowStage::of).collect();
    records
        .iter()
        .filter(|record| filter.matches(record))
        .filter_map(|record| {
            let mut row = Row {
                record,
                attributes: record.attributes.clone(),
            };
            stages
                .iter()
                .all(|stage| stage.apply(&mut row))
                .then_some(row)
        })
        .collect()
}

enum RowStage {
    Where(Matcher),
    /// Each name with the regex that captures it.
    Extract(Vec<(String, Regex)>),
}

impl RowStage {
    fn of(stage: &Stage) -> Option<RowStage> {
        match stage {
            Stage::Where(filter) => Some(RowStage::Where(Matcher::new(filter))),
            Stage::Extract(pattern) => Some(RowStage::Extract(
                pattern
                    .names()
                    .into_iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let regex = Regex::new(&pattern.regex_for(i)).expect("an escaped pattern");
                        (name.to_string(), regex)
                    })
                    .collect(),
            )),
            _ => None,
        }
    }

    /// Whether the row stays.
    fn apply(&self, row: &mut Row) -> bool {
        match self {
            RowStage::Where(matcher) => matcher.matches_with(row.record, &row.attributes),
            RowStage::Extract(names) => {
                for (name, regex) in names {
                    match regex.captures(&row.record.message).and_then(|c| c.get(1)) {
                        Some(found) => row.attributes.insert(name.clone(), found.as_str().into()),
                        None => row.attributes.remove(name),
                    };
                }
                true
            }
        }
    }
}

fn cell(name: &Name, row: &Row) -> Cell {
    let text = |value: Option<&str>| value.map_or(Cell::Null, |v| Cell::Text(v.to_string()));
    match name {
        Name::Time => Cell::Time(row.record.timestamp_nanos()),
        Name::Level => Cell::Level(row.record.level),
        Name::Message => Cell::Text(row.record.message.clone()),
        Name::Field(field) => text(field.of(row.record)),
        Name::Attribute(key) => text(row.attributes.get(key).map(String::as_str)),
    }
}

fn group_cell(key: &GroupKey, row: &Row) -> Cell {
    match key {
        GroupKey::Name(name) => cell(name, row),
        GroupKey::Time(step) => {
            // As the stores do: the earliest representable time where the
            // bucket would start before it.
            let ts = row.record.timestamp_nanos();
            let start = ts.checked_sub(ts.rem_euclid(step.nanos));
            Cell::Time(start.unwrap_or(i64::MIN))
        }
    }
}

/// Newest first, or by the sort keys with newest first among equals.
fn sort_rows(rows: &mut [Row], keys: &[SortKey]) {
    let names: Vec<(Name, bool)> = keys
        .iter()
        .map(|k| (Name::from_text(&k.column), k.descending))
        .collect();
    rows.sort_by(|a, b| {
        names
            .iter()
            .map(|(name, descending)| compare_cells(&cell(name, a), &cell(name, b), *descending))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| b.record.timestamp_nanos().cmp(&a.record.timestamp_nanos()))
            .then_with(|| b.record.id.cmp(&a.record.id))
    });
}

/// By the sort keys, then `then` (column indexes and directions), then by
/// every column in order (ascending).
fn sort_table(
    rows: &mut [Vec<Cell>],
    columns: &[ColumnSpec],
    keys: &[SortKey],
    then: &[(usize, bool)],
) {
    let keys: Vec<(usize, bool)> = keys
        .iter()
        .filter_map(|k| {
            let index = columns.iter().position(|c| c.name == k.column)?;
            Some((index, k.descending))
        })
        .chain(then.iter().copied())
        .chain((0..columns.len()).map(|i| (i, false)))
        .collect();
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|(i, descending)| compare_cells(&a[*i], &b[*i], *descending))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
}

fn stats(rows: &[Row], aggregates: &[Aggregate], by: &[GroupKey]) -> Vec<Vec<Cell>> {
    let mut groups: HashMap<Vec<String>, (Vec<Cell>, Vec<&Row>)> = HashMap::new();
    for row in rows {
        let key: Vec<Cell> = by.iter().map(|k| group_cell(k, row)).collect();
        let id = key.iter().map(|c| format!("{c:?}")).collect();
        groups
            .entry(id)
            .or_insert_with(|| (key, Vec::new()))
            .1
            .push(row);
    }
    if by.is_empty() && groups.is_empty() {
        groups.insert(Vec::new(), (Vec::new(), Vec::new()));
    }
    groups
        .into_values()
        .map(|(mut key, members)| {
            key.extend(aggregates.iter().map(|a| aggregate(a, &members)));
            key
        })
        .collect()
}

fn aggregate(aggregate: &Aggregate, rows: &[&Row]) -> Cell {
    let values: Vec<Cell> = match &aggregate.arg {
        None => return Cell::Int(rows.len() as i64),
        Some(name) => rows.iter().map(|row| cell(name, row)).collect(),
    };
    let present = values.iter().filter(|c| **c != Cell::Null);
    let mut numbers: Vec<f64> = values.iter().filter_map(Cell::number).collect();
    let float = |x: Option<f64>| x.map_or(Cell::Null, Cell::Float);
    match aggregate.function {
        Function::Count => Cell::Int(present.count() as i64),
        Function::CountDistinct => Cell::Int(
            present
                .filter_map(Cell::text)
                .collect::<BTreeSet<_>>()
                .len() as i64,
        ),
        Function::Sum => float((!numbers.is_empty()).then(|| numbers.iter().sum())),
        Function::Avg => {
            float((!numbers.is_empty()).then(|| numbers.iter().sum::<f64>() / numbers.len() as f64))
        }
        Function::Min => float(numbers.iter().copied().reduce(f64::min)),
        Function::Max => float(numbers.iter().copied().reduce(f64::max)),
        Function::Percentile(p) => {
            numbers.sort_by(f64::total_cmp);
            float(percentile(&numbers, f64::from(p) / 100.0))
        }
    }
}

/// Linear interpolation between the nearest ranks of sorted values.
pub fn percentile(sorted: &[f64], level: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = level * last as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let fraction = position - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * fraction)
}

fn top(rows: &[Row], limit: usize, by: &[Name]) -> Vec<Vec<Cell>> {
    let total = rows.len();
    let mut counts: HashMap<Vec<String>, (Vec<Cell>, i64)> = HashMap::new();
    for row in rows {
        let key: Vec<Cell> = by.iter().map(|name| cell(name, row)).collect();
        if key.contains(&Cell::Null) {
            continue;
        }
        let id = key.iter().map(|c| format!("{c:?}")).collect();
        counts.entry(id).or_insert_with(|| (key, 0)).1 += 1;
    }
    let mut table: Vec<Vec<Cell>> = counts
        .into_values()
        .map(|(mut key, count)| {
            key.push(Cell::Int(count));
            key.push(Cell::Float(count as f64 / total as f64));
            key
        })
        .collect();
    let n = by.len();
    table.sort_by(|a, b| {
        compare_cells(&a[n], &b[n], true).then_with(|| {
            (0..n)
                .map(|i| compare_cells(&a[i], &b[i], false))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    });
    table.truncate(limit);
    table
}
