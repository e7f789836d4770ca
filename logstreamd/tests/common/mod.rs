//! What differential.rs and modern_clickhouse.rs share: a plain-Rust model
//! of the query language, the expected answer both compare each store's
//! answer with, and tersely built records.
//!
//! Cargo builds `tests/common/mod.rs` into each test that says `mod common;`
//! instead of into a test of its own. Each of those tests is its own crate
//! and warns about what it leaves unused, so this holds only what both use.

pub(crate) mod model;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use logstream_shared::{Level, LogRecord};

pub(crate) const SECOND: i64 = 1_000_000_000;
pub(crate) const DAY: i64 = 86_400 * SECOND;
/// 2024-05-01T12:00:00Z, around which most test records lie.
pub(crate) const BASE_NS: i64 = 1_714_564_800 * SECOND;

/// A record with only the fields every record has.
pub(crate) fn record(id: &str, ts: i64, service: &str, level: Level, message: &str) -> LogRecord {
    LogRecord {
        id: id.into(),
        timestamp: Utc.timestamp_nanos(ts),
        service: service.into(),
        level,
        message: message.into(),
        host: None,
        trace_id: None,
        span_id: None,
        attributes: BTreeMap::new(),
    }
}

/// Whether two tables are equal, floats to a relative 1e-9 (engines sum in
/// different orders).
#[allow(dead_code)]
pub(crate) fn close_tables(
    a: &logstream_shared::query::Table,
    b: &logstream_shared::query::Table,
) -> bool {
    use logstream_shared::query::Cell;
    let cell = |x: &Cell, y: &Cell| match (x, y) {
        (Cell::Float(x), Cell::Float(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => x == y,
    };
    a.columns == b.columns
        && a.truncated == b.truncated
        && a.rows.len() == b.rows.len()
        && a.rows
            .iter()
            .zip(&b.rows)
            .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| cell(p, q)))
}
