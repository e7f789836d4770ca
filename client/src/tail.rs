//! The events of `GET /api/tail`, read from its Server-Sent Events.

use eventsource_stream::Event;
use logstream_shared::LogRecord;
use logstream_shared::api::{TAIL_LAGGED_EVENT, TAIL_RECORD_EVENT, TailLagged};

/// One event of the live tail.
#[derive(Debug)]
pub enum TailEvent {
    /// A record, or why its data is not one; `id` resumes after it.
    Record {
        id: String,
        record: Result<LogRecord, String>,
    },
    /// The client fell behind; the stream ends. `resume` is where to go on
    /// when the client has no cursor of its own yet.
    Lagged { resume: Option<String> },
    /// An event of a newer daemon: not ours to read.
    Other,
}

impl TailEvent {
    pub fn of(event: Event) -> TailEvent {
        match event.event.as_str() {
            TAIL_RECORD_EVENT => TailEvent::Record {
                record: serde_json::from_str(&event.data)
                    .map_err(|e| format!("a record that is not valid: {e}")),
                id: event.id,
            },
            TAIL_LAGGED_EVENT => TailEvent::Lagged {
                resume: serde_json::from_str::<TailLagged>(&event.data)
                    .ok()
                    .and_then(|lagged| lagged.resume),
            },
            _ => TailEvent::Other,
        }
    }
}
