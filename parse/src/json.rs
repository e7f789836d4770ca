//! JSON object lines, and the common field names that JSON and logfmt
//! loggers use.

use logstream_shared::record::{attribute_text, members_of, parse_timestamp, value_of};
use logstream_shared::{JsonObject, Level};
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use super::layouts::level;
use super::{Context, Parsed, text};

/// Field names loggers commonly use, in order of preference. A dotted name
/// is also looked up as nested objects (`{"log": {"level": "warn"}}`).
const MESSAGE_KEYS: [&str; 6] = ["message", "msg", "log", "@message", "text", "@m"];
const LEVEL_KEYS: [&str; 8] = [
    "level",
    "lvl",
    "severity",
    "loglevel",
    "log.level",
    "levelname",
    "@level",
    "@l",
];
const TIME_KEYS: [&str; 7] = [
    "timestamp",
    "time",
    "ts",
    "@timestamp",
    "datetime",
    "@t",
    "asctime",
];
const SERVICE_KEYS: [&str; 4] = ["service", "service.name", "app", "application"];
const HOST_KEYS: [&str; 3] = ["host", "hostname", "host.name"];
const TRACE_KEYS: [&str; 3] = ["trace_id", "traceId", "trace.id"];
const SPAN_KEYS: [&str; 3] = ["span_id", "spanId", "span.id"];

/// A JSON object line; `None` for anything else.
pub(super) fn parse(line: &str, cx: Context) -> Option<Parsed> {
    Some(from_object(object(line)?, line, cx))
}

/// The members of a JSON object, each kept as the JSON text it was sent as,
/// so that numbers keep every digit; `None` if `text` is no JSON object.
pub(super) fn object(text: &str) -> Option<JsonObject> {
    serde_json::from_str(text).ok()
}

/// Takes the message, level, time, service, host, trace and span from their
/// common names; every other field becomes an attribute (non-strings as
/// their JSON text), and so does each member of an `attributes` object.
/// Without a message field, the whole line is the message.
/// A level or time that cannot be read is kept as an attribute.
pub(super) fn from_object(mut object: JsonObject, line: &str, cx: Context) -> Parsed {
    let mut parsed = Parsed {
        message: match take_first(&mut object, &MESSAGE_KEYS, is_scalar) {
            Some((_, message)) => attribute_text(&message),
            None => line.trim().to_string(),
        },
        ..Parsed::default()
    };
    if let Some((key, level)) = take_first(&mut object, &LEVEL_KEYS, is_scalar) {
        match level_of(&value_of(&level)) {
            Some(found) => parsed.level = Some(found),
            None => {
                object.insert(key, level);
            }
        }
    }
    if let Some((key, time)) = take_first(&mut object, &TIME_KEYS, is_scalar) {
        match time_of(&value_of(&time), cx) {
            Some(found) => parsed.timestamp = Some(found),
            None => {
                object.insert(key, time);
            }
        }
    }
    let is_text = |raw: &RawValue| value_of(raw).as_str().is_some_and(|s| !s.trim().is_empty());
    for (keys, field) in [
        (&SERVICE_KEYS[..], &mut parsed.service),
        (&HOST_KEYS[..], &mut parsed.host),
        (&TRACE_KEYS[..], &mut parsed.trace_id),
        (&SPAN_KEYS[..], &mut parsed.span_id),
    ] {
        *field = take_first(&mut object, keys, is_text).map(|(_, v)| attribute_text(&v));
    }
    let members = attributes_object(&mut object);
    // Collected after the other fields, so a member wins over a field of
    // the same name.
    parsed.attributes = object
        .into_iter()
        .chain(members)
        .map(|(k, v)| (k, attribute_text(&v)))
        .collect();
    parsed
}

/// The members of an `attributes` object, removed from `object`: LogStream's
/// own records (what the API takes, what `lsctl query -o ndjson` prints)
/// carry their attributes so, and each member is an attribute, not one
/// attribute holding the object's JSON text. Empty if there is none.
fn attributes_object(object: &mut JsonObject) -> JsonObject {
    let Some(raw) = object.remove("attributes") else {
        return JsonObject::new();
    };
    members_of(&raw).unwrap_or_else(|| {
        object.insert("attributes".into(), raw);
        JsonObject::new()
    })
}

/// A string, a number or a boolean.
fn is_scalar(raw: &RawValue) -> bool {
    matches!(
        raw.get().as_bytes().first(),
        Some(b'"' | b'-' | b'0'..=b'9' | b't' | b'f')
    )
}

/// A level name (with the aliases `Level` accepts), a syslog severity (0–7)
/// or a pino/bunyan number (10 trace … 60 fatal).
fn level_of(value: &Value) -> Option<Level> {
    match value {
        Value::String(s) => level::name(s.trim()),
        Value::Number(n) => match n.as_u64()? {
            severity @ 0..=7 => Some(text::severity_level(severity as u8)),
            number => level::pino(number),
        },
        _ => None,
    }
}

/// RFC 3339, epoch seconds/ms/µs/ns (also as a string of digits), or a
/// zone-less `2024-05-01 12:00:01,123` in the configured zone.
pub(super) fn time_of(value: &Value, cx: Context) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(found) = parse_timestamp(value) {
        return Some(found);
    }
    let text = value.as_str()?.trim();
    if let Ok(number) = text.parse::<serde_json::Number>()
        && let Ok(found) = parse_timestamp(&Value::Number(number))
    {
        return Some(found);
    }
    text::timestamp_value(text, cx.zone)
}

/// The first of `keys` present with an accepted value, removed from the
/// object, with the key it had (a dotted key found nested keeps its dotted
/// name).
fn take_first(
    object: &mut JsonObject,
    keys: &[&str],
    accept: impl Fn(&RawValue) -> bool,
) -> Option<(String, Box<RawValue>)> {
    for key in keys {
        if object.get(*key).is_some_and(|raw| accept(raw)) {
            return object.remove(*key).map(|v| (key.to_string(), v));
        }
        if let Some((parent, child)) = key.split_once('.')
            && let Some(mut inner) = object.get(parent).and_then(|raw| members_of(raw))
            && inner.get(child).is_some_and(|raw| accept(raw))
        {
            let value = inner.remove(child)?;
            if inner.is_empty() {
                object.remove(parent);
            } else {
                object.insert(parent.to_string(), to_raw_value(&inner).ok()?);
            }
            return Some((key.to_string(), value));
        }
    }
    None
}
