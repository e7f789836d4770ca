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
