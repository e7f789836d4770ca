//! `--detect-layouts` (on by default): a record that arrives without a
//! level or a time of its own takes those its message's text carries, as
//! `lsctl send` reads them (logstream-parse's catalogue of layouts: a log4j
//! line shipped to Loki, a syslog message sent at the default priority whose
//! text says ERROR, a shipper's JSON with only a message). Each protocol says
//! what it gave; the text never overrides that.

use logstream_parse::{Context, Zone};
use logstream_shared::LogRecord;

/// What a protocol gave a record of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Given {
    pub level: bool,
    pub time: bool,
}

/// Sets the level, and the time, that the protocol did not give to those
/// the message's text carries, if any. The record's timestamp is its time of
/// arrival when no time was given (it decides the year of year-less times);
/// zone-less times are in the daemon's local zone, as syslog's.
pub fn complete(record: &mut LogRecord, given: Given) {
    if given.level && given.time {
        return;
    }
    let cx = Context {
        zone: Zone::Local,
        now: record.timestamp,
    };
    let Some((time, level)) = logstream_parse::recognise(&record.message, cx) else {
        return;
    };
    if let Some(level) = level.filter(|_| !given.level) {
        record.level = level;
    }
    if let Some(time) = time.filter(|_| !given.time) {
        record.timestamp = time;
    }
}

#[cfg(test)]
mod tests {
    use logstream_shared::Level;

    use super::*;

    fn arrived(message: &str) -> LogRecord {
        LogRecord {
            id: "1".into(),
            timestamp: "2026-11-27T13:00:00Z".parse().unwrap(),
            service: "api".into(),
            level: Level::Info,
            message: message.into(),
            host: None,
            trace_id: None,
            span_id: None,
            attributes: Default::default(),
        }
    }

    const LINE: &str = "2026-11-27T12:00:01Z ERROR [main] com.example.App - boom";

    #[test]
    fn what_the_protocol_did_not_give_comes_from_the_text() {
        let mut record = arrived(LINE);
        complete(&mut record, Given::default());
        assert_eq!(record.level, Level::Error);
        assert_eq!(
            record.timestamp,
            "2026-11-27T12:00:01Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        );
    }

    #[test]
    fn what_the_protocol_gave_is_kept() {
        let mut record = arrived(LINE);
        let before = record.clone();
        complete(
            &mut record,
            Given {
                level: true,
                time: false,
            },
        );
        assert_eq!(record.level, Level::Info);
        assert_ne!(record.timestamp, before.timestamp);
        let mut record = arrived(LINE);
        complete(
            &mut record,
            Given {
                level: false,
                time: true,
            },
        );
        assert_eq!(
            (record.level, record.timestamp),
            (Level::Error, before.timestamp)
        );
    }

    #[test]
    fn a_message_in_no_layout_is_left_alone() {
        let mut record = arrived("user logged in");
        complete(&mut record, Given::default());
        assert_eq!(record, arrived("user logged in"));
    }
}
