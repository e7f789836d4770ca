//! The context of a record: its neighbours from the same service (and
//! host), from `GET /api/logs/{id}/context`, shown around it like `grep -C`.

use logstream_shared::LogRecord;

/// Records asked for on each side.
pub const SIDE: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct ContextRequest {
    pub record: LogRecord,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextAnswer {
    /// The record it is the context of.
    pub id: String,
    /// Before, the record, after: in time order.
    pub result: Result<(Vec<LogRecord>, LogRecord, Vec<LogRecord>), String>,
}

/// The context pane: loading, shown, or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextView {
    pub id: String,
    pub status: Option<ContextAnswer>,
}

impl ContextView {
    /// The rows to show, oldest first, with the index of the record itself.
    pub fn rows(&self) -> Option<(Vec<&LogRecord>, usize)> {
        let Some(ContextAnswer {
            result: Ok((before, record, after)),
            ..
        }) = &self.status
        else {
            return None;
        };
        let rows = before.iter().chain([record]).chain(after).collect();
        Some((rows, before.len()))
    }
}
