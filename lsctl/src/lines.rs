//! Turning one input line into one log record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use logstream_shared::record::{MAX_ATTRIBUTES, MAX_MESSAGE_LEN, parse_timestamp};
use logstream_shared::{Level, LogRecord, validate};
use serde_json::{Map, Value};

/// What every record from this run carries.
#[derive(Debug, Clone)]
pub(crate) struct RecordDefaults {
    pub(crate) service: String,
    pub(crate) host: Option<String>,
}

/// Field names JSON loggers commonly use, in order of preference.
const LEVEL_KEYS: [&str; 5] = ["level", "lvl", "severity", "loglevel", "log.level"];
const MESSAGE_KEYS: [&str; 3] = ["message", "msg", "text"];
const TIME_KEYS: [&str; 5] = ["timestamp", "time", "ts", "@timestamp", "datetime"];

/// The record for one line, or `None` for a blank line. `read_at` is the
/// timestamp when the line carries none.
pub(crate) fn record_from_line(
    line: &str,
    defaults: &RecordDefaults,
    read_at: DateTime<Utc>,
) -> Option<LogRecord> {
    if line.trim().is_empty() {
        return None;
    }
    let mut record = LogRecord {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp: read_at,
        service: defaults.service.clone(),
        level: Level::Info,
        message: String::new(),
        host: defaults.host.clone(),
        trace_id: None,
        span_id: None,
        attributes: BTreeMap::new(),
    };
    let text_record = record.clone();
    let from_json = line.trim_start().starts_with('{')
        && serde_json::from_str::<Map<String, Value>>(line)
            .ok()
            .is_some_and(|object| fill_from_json(&mut record, object));
    truncate_message(&mut record);
    // A JSON line the daemon would refuse (a blank message, an oversized
    // attribute…) goes as text instead, so it cannot sink its whole batch.
    if !from_json || !validate(&record).is_empty() {
        record = text_record;
        record.level = level_near_start(line).unwrap_or(Level::Info);
        record.message = line.to_string();
        truncate_message(&mut record);
    }
    Some(record)
}

/// Takes level, message and time from their common names; every other field
/// becomes an attribute. Returns false (leaving the line to be sent as text)
/// when the object has no message or more attributes than a record may carry.
fn fill_from_json(record: &mut LogRecord, mut object: Map<String, Value>) -> bool {
    let Some(message) = take_first(&mut object, &MESSAGE_KEYS) else {
        return false;
    };
    record.message = text_of(message);
    if let Some(level) = take_first(&mut object, &LEVEL_KEYS) {
        match text_of(level.clone()).parse() {
            Ok(parsed) => record.level = parsed,
            Err(_) => {
                object.insert("level".into(), level);
            }
        }
    }
    if let Some(time) = take_first(&mut object, &TIME_KEYS) {
        match parse_timestamp(&time) {
            Ok(parsed) => record.timestamp = parsed,
            Err(_) => {
                object.insert("timestamp".into(), time);
            }
        }
    }
    if object.len() > MAX_ATTRIBUTES {
        return false;
    }
    record.attributes = object.into_iter().map(|(k, v)| (k, text_of(v))).collect();
    true
}

fn take_first(object: &mut Map<String, Value>, keys: &[&str]) -> Option<Value> {
    keys.iter()
        .find_map(|key| object.remove(*key))
        .filter(|v| !v.is_null())
}

fn text_of(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A level word among the first few words of a text line, as in
/// `2024-05-01 12:00:00 ERROR …`, `[warn] …` or `level=error …`.
fn level_near_start(line: &str) -> Option<Level> {
    const LEVEL_WORDS: [&str; 10] = [
        "trace", "debug", "info", "warn", "warning", "error", "err", "fatal", "critical", "panic",
    ];
    line.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .take(6)
        .find(|word| LEVEL_WORDS.iter().any(|l| l.eq_ignore_ascii_case(word)))
        .and_then(|word| word.parse().ok())
}

/// Keeps a message within the daemon's limit, noting how much was cut, so
/// that one huge line cannot make its whole batch fail.
fn truncate_message(record: &mut LogRecord) {
    if record.message.len() <= MAX_MESSAGE_LEN {
        return;
    }
    let mut end = MAX_MESSAGE_LEN;
    while !record.message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = record.message.len() - end;
    record.message.truncate(end);
    record
        .attributes
        .insert("lsctl.truncated_bytes".into(), cut.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> RecordDefaults {
        RecordDefaults {
            service: "api".into(),
            host: Some("h1".into()),
        }
    }

    fn now() -> DateTime<Utc> {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn parse(line: &str) -> LogRecord {
        record_from_line(line, &defaults(), now()).unwrap()
    }

    #[test]
    fn text_lines_take_a_level_word_near_the_start() {
        assert_eq!(
            parse("2024-05-01 12:00:00,123 ERROR db: connection refused").level,
            Level::Error
        );
        assert_eq!(parse("[warn] disk almost full").level, Level::Warn);
        assert_eq!(parse("level=debug msg=hi").level, Level::Debug);
        assert_eq!(parse("W: Warning: low memory").level, Level::Warn);
        assert_eq!(parse("user logged in").level, Level::Info);
        let far = parse("one two three four five six seven error");
        assert_eq!(far.level, Level::Info, "only the first words count");
        let r = parse("FATAL out of memory");
        assert_eq!(
            (r.message.as_str(), r.service.as_str(), r.host.as_deref()),
            ("FATAL out of memory", "api", Some("h1"))
        );
        assert_eq!(r.timestamp, now());
    }

    #[test]
    fn json_lines_keep_their_fields() {
        let r = parse(
            r#"{"level":"error","msg":"boom","time":"2024-04-30T10:00:00Z","user":7,"ok":true}"#,
        );
        assert_eq!(r.level, Level::Error);
        assert_eq!(r.message, "boom");
        assert_eq!(
            r.timestamp,
            "2024-04-30T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(r.attributes["user"], "7");
        assert_eq!(r.attributes["ok"], "true");
    }

    #[test]
    fn json_fields_the_daemon_would_reject_are_kept_as_attributes() {
        let r = parse(r#"{"level":"loud","message":"m","timestamp":"whenever"}"#);
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.attributes["level"], "loud");
        assert_eq!(r.attributes["timestamp"], "whenever");
        assert_eq!(r.timestamp, now());
    }

    #[test]
    fn json_without_a_message_is_sent_as_text() {
        let line = r#"{"event":"started"}"#;
        assert_eq!(parse(line).message, line);
        assert_eq!(parse("{not json").message, "{not json");
    }

    #[test]
    fn json_lines_the_daemon_would_refuse_are_sent_as_text() {
        for line in [
            r#"{"msg":"   ","level":"error"}"#.to_string(),
            format!(r#"{{"msg":"m","stack":"{}"}}"#, "x".repeat(10_000)),
            r#"{"msg":"m","":"empty key"}"#.to_string(),
        ] {
            let r = parse(&line);
            assert_eq!(r.message, line);
            assert!(r.attributes.is_empty());
            assert!(validate(&r).is_empty());
        }
    }

    #[test]
    fn blank_lines_are_skipped_and_huge_lines_truncated_with_a_note() {
        assert!(record_from_line("   ", &defaults(), now()).is_none());
        let r = parse(&"é".repeat(MAX_MESSAGE_LEN));
        assert!(r.message.len() <= MAX_MESSAGE_LEN);
        assert_eq!(
            r.attributes["lsctl.truncated_bytes"],
            (2 * MAX_MESSAGE_LEN - r.message.len()).to_string()
        );
    }
}
