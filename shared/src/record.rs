//! The log record and how an ingested JSON object becomes one.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::Level;

/// Longest accepted service name, in bytes.
pub const MAX_SERVICE_LEN: usize = 128;
/// Longest accepted message, in bytes (64 KiB: a long stack trace fits).
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Most attributes one record may carry.
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute key, in bytes.
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 128;
/// Longest attribute value, in bytes.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 8 * 1024;
/// Longest id, host, trace id or span id, in bytes.
pub const MAX_TAG_LEN: usize = 256;

/// One stored log record, as the API returns it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub id: String,
    /// When it happened (from the record, else when the daemon received it).
    pub timestamp: DateTime<Utc>,
    pub service: String,
    pub level: Level,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl LogRecord {
    /// Nanoseconds since the Unix epoch: the stores' time column.
    pub fn timestamp_nanos(&self) -> i64 {
        // Validation keeps timestamps inside the i64-nanosecond range.
        self.timestamp.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }
}

/// A problem with one field of one ingested record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The record's position in a batch; absent for a single record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            index: None,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(index) = self.index {
            write!(f, "record {index}: ")?;
        }
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A JSON object whose members keep the text they were sent as: a
/// `serde_json::Value` reads every number that is not a 64-bit integer as
/// an f64, so `123456789012345678901` or `0.10000000000000000555` would
/// come back altered as attributes.
pub type JsonObject = BTreeMap<String, Box<RawValue>>;

/// The members of one ingested JSON value, which must be an object.
pub fn json_object(value: &RawValue) -> Result<JsonObject, Vec<FieldError>> {
    members_of(value).ok_or_else(|| {
        vec![FieldError::new(
            "",
            format!(
                "expected a JSON object, got {}",
                json_type(&value_of(value))
            ),
        )]
    })
}

/// Turns one ingested JSON object into a record, or lists every problem with it.
///
/// Accepted fields: `service` and `message` (required), `level` (default INFO),
/// `timestamp` (RFC 3339 string or epoch number; default `received`), `id`,
/// `host`, `trace_id`/`traceId`, `span_id`/`spanId`, and `attributes` or the
/// seed's `metadata` (objects). Any other top-level field becomes an attribute.
/// Non-string attribute values keep their JSON text (see [`attribute_text`]).
pub fn record_from_json(
    object: JsonObject,
    received: DateTime<Utc>,
) -> Result<LogRecord, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut service = None;
    let mut message = None;
    let mut level = Level::Info;
    let mut timestamp = received;
    let mut id = None;
    let mut host = None;
    let mut trace_id = None;
    let mut span_id = None;
    let mut attributes = BTreeMap::new();

    for (key, raw) in object {
        let value = || value_of(&raw);
        match key.as_str() {
            "service" => service = string_field(&key, value(), &mut errors),
            "message" => message = string_field(&key, value(), &mut errors),
            "level" => match value() {
                Value::String(s) => match s.parse() {
                    Ok(parsed) => level = parsed,
                    Err(e) => errors.push(FieldError::new("level", e.to_string())),
                },
                other => errors.push(FieldError::new(
                    "level",
                    format!(
                        "expected a string such as \"ERROR\", got {}",
                        json_type(&other)
                    ),
                )),
            },
            "timestamp" => match parse_timestamp(&value()) {
                Ok(t) => timestamp = t,
                Err(e) => errors.push(FieldError::new("timestamp", e)),
            },
            "id" => id = string_field(&key, value(), &mut errors),
            "host" => host = string_field(&key, value(), &mut errors),
            "trace_id" | "traceId" => trace_id = string_field("trace_id", value(), &mut errors),
            "span_id" | "spanId" => span_id = string_field("span_id", value(), &mut errors),
            "attributes" | "metadata" => {
                match serde_json::from_str::<Option<JsonObject>>(raw.get()) {
                    Ok(map) => {
                        for (k, v) in map.unwrap_or_default() {
                            attributes.insert(k, attribute_text(&v));
                        }
                    }
                    Err(_) => errors.push(FieldError::new(
                        &key,
                        format!(
                            "expected an object of key/value pairs, got {}",
                            json_type(&value())
                        ),
                    )),
                }
            }
            _ => {
                attributes.insert(key, attribute_text(&raw));
            }
        }
    }
    for (field, value) in [("service", &service), ("message", &message)] {
        if value.is_none() && !errors.iter().any(|e| e.field == field) {
            errors.push(FieldError::new(field, "is required"));
        }
    }

    let non_empty = |tag: Option<String>| tag.filter(|s| !s.is_empty());
    let record = LogRecord {
        id: non_empty(id).unwrap_or_else(|| Uuid::now_v7().to_string()),
        timestamp,
        service: service.unwrap_or_default(),
        level,
        message: message.unwrap_or_default(),
        host: non_empty(host),
        trace_id: non_empty(trace_id),
        span_id: non_empty(span_id),
        attributes,
    };
    // Limits, reported for the fields that parsed; one problem per field.
    for problem in validate(&record) {
        if !errors.iter().any(|e| e.field == problem.field) {
            errors.push(problem);
        }
    }
    if errors.is_empty() {
        Ok(record)
    } else {
        Err(errors)
    }
}

/// Every way the record breaks the limits that every store and client
/// relies on (see the `MAX_…` constants).
pub fn validate(record: &LogRecord) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, text, max) in [
        ("service", &record.service, MAX_SERVICE_LEN),
        ("message", &record.message, MAX_MESSAGE_LEN),
    ] {
        if text.trim().is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        } else if field == "service"
            && let Some(c) = text.chars().find(|c| c.is_control())
        {
            // Services are printed as they are, in tables and on terminals.
            errors.push(FieldError::new(
                field,
                format!("{text:?} has the control character {c:?}; services are printable text"),
            ));
        } else if text.len() > max {
            errors.push(FieldError::new(
                field,
                format!("is {} bytes; at most {max} are accepted", text.len()),
            ));
        }
    }
    let tags = [
        ("id", Some(&record.id)),
        ("host", record.host.as_ref()),
        ("trace_id", record.trace_id.as_ref()),
        ("span_id", record.span_id.as_ref()),
    ];
    for (field, tag) in tags {
        if let Some(tag) = tag.filter(|t| t.len() > MAX_TAG_LEN || t.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                field,
                format!(
                    "is {} bytes; at most {MAX_TAG_LEN} are accepted, without control characters",
                    tag.len()
                ),
            ));
        }
    }
    if record.attributes.len() > MAX_ATTRIBUTES {
        errors.push(FieldError::new(
            "attributes",
            format!(
                "has {} entries; at most {MAX_ATTRIBUTES} are accepted",
                record.attributes.len()
            ),
        ));
    }
    for (key, value) in &record.attributes {
        if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY_LEN {
            errors.push(FieldError::new(
                "attributes",
                format!("key \"{key}\" must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes long"),
            ));
        } else if let Some(c) = key.chars().find(|c| c.is_control()) {
            // Keys are printed as they are, as CSV columns and `key=value`.
            errors.push(FieldError::new(
                "attributes",
                format!("key {key:?} has the control character {c:?}; keys are printable text"),
            ));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_LEN {
            errors.push(FieldError::new(
                &format!("attributes.{key}"),
                format!(
                    "is {} bytes; at most {MAX_ATTRIBUTE_VALUE_LEN} are accepted",
                    value.len()
                ),
            ));
        }
    }
    errors
}

/// The attribute that lists the fields [`fit_to_limits`] had to cut or
/// replace, comma-separated (e.g. `message,attributes.stack`).
pub const TRUNCATED_FIELDS: &str = "logstream.truncated";
/// The attribute that counts the attributes [`fit_to_limits`] left out.
pub const DROPPED_ATTRIBUTES: &str = "logstream.dropped_attributes";
/// What an empty message or service becomes: shipper protocols allow them,
/// the stores do not.
pub const EMPTY_MESSAGE: &str = "(empty)";
pub const UNKNOWN_SERVICE: &str = "unknown";

/// Makes a record that a shipper protocol produced pass [`validate`] by
/// cutting what is too long instead of refusing it, since a shipper drops a
/// whole batch on one refusal. Every field that was cut or replaced is named
/// in [`TRUNCATED_FIELDS`]; attributes beyond the limit are left out (the
/// alphabetically last ones) and counted in [`DROPPED_ATTRIBUTES`].
pub fn fit_to_limits(record: &mut LogRecord) {
    let mut cut: Vec<String> = Vec::new();
    let stripped = strip_controls(&mut record.service);
    if record.service.trim().is_empty() {
        record.service = UNKNOWN_SERVICE.into();
    }
    if cut_text(&mut record.service, MAX_SERVICE_LEN) || stripped {
        cut.push("service".into());
    }
    if record.message.trim().is_empty() {
        record.message = EMPTY_MESSAGE.into();
    } else if cut_text(&mut record.message, MAX_MESSAGE_LEN) {
        cut.push("message".into());
    }
    if record.id.is_empty()
        || record.id.len() > MAX_TAG_LEN
        || record.id.chars().any(char::is_control)
    {
        record.id = Uuid::now_v7().to_string();
    }
    for (field, tag) in [
        ("host", &mut record.host),
        ("trace_id", &mut record.trace_id),
        ("span_id", &mut record.span_id),
    ] {
        if let Some(text) = tag {
            let stripped = strip_controls(text);
            if cut_text(text, MAX_TAG_LEN) || stripped {
                cut.push(field.into());
            }
        }
        if tag.as_ref().is_some_and(|t| t.is_empty()) {
            *tag = None;
        }
    }
    fit_attributes(&mut record.attributes, &mut cut);
    if !cut.is_empty() {
        let mut list = cut.join(",");
        cut_text(&mut list, MAX_ATTRIBUTE_VALUE_LEN);
        record.attributes.insert(TRUNCATED_FIELDS.into(), list);
    }
}

/// Cuts keys and values to their limits, takes control characters out of
/// keys and keeps room for the two marker attributes. A key that becomes
/// one already taken is left out like an attribute beyond the limit.
fn fit_attributes(attributes: &mut BTreeMap<String, String>, cut: &mut Vec<String>) {
    let needs_work = attributes.len() > MAX_ATTRIBUTES - 2
        || attributes.iter().any(|(k, v)| {
            k.is_empty()
                || k.len() > MAX_ATTRIBUTE_KEY_LEN
                || v.len() > MAX_ATTRIBUTE_VALUE_LEN
                || k.chars().any(char::is_control)
        });
    if !needs_work {
        return;
    }
    // Each value with whether its key or value had to change.
    let mut fitted: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut dropped = 0usize;
    for (mut key, mut value) in std::mem::take(attributes) {
        let mut changed = strip_controls(&mut key);
        if key.is_empty() {
            key = "_".into();
        }
        changed |= cut_text(&mut key, MAX_ATTRIBUTE_KEY_LEN);
        changed |= cut_text(&mut value, MAX_ATTRIBUTE_VALUE_LEN);
        match fitted.get(&key) {
            // A key as it was sent wins over one that became the same.
            Some((_, true)) if !changed => dropped += 1,
            Some(_) => {
                dropped += 1;
                continue;
            }
            None if fitted.len() >= MAX_ATTRIBUTES - 2 => {
                dropped += 1;
                continue;
            }
            None => {}
        }
        fitted.insert(key, (value, changed));
    }
    let mut fitted: BTreeMap<String, String> = fitted
        .into_iter()
        .map(|(key, (value, changed))| {
            if changed {
                cut.push(format!("attributes.{key}"));
            }
            (key, value)
        })
        .collect();
    if dropped > 0 {
        fitted.insert(DROPPED_ATTRIBUTES.into(), dropped.to_string());
    }
    *attributes = fitted;
}

/// Takes the control characters out of `text`; whether there were any.
fn strip_controls(text: &mut String) -> bool {
    if !text.chars().any(char::is_control) {
        return false;
    }
    text.retain(|c| !c.is_control());
    true
}

/// Cuts `text` to at most `max` bytes on a character boundary; whether it cut.
fn cut_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// A string field's value; `None`, with an error noted unless the value was
/// null, when it is not a string.
fn string_field(field: &str, value: Value, errors: &mut Vec<FieldError>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => {
            errors.push(FieldError::new(
                field,
                format!("expected a string, got {}", json_type(&other)),
            ));
            None
        }
    }
}

/// A JSON value as sent, parsed (numbers past f64 lose digits: for checks
/// and conversions, not for what is stored).
pub fn value_of(raw: &RawValue) -> Value {
    // The text was checked to be JSON when it was read.
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// The members of a JSON value as sent, if it is an object.
pub fn members_of(raw: &RawValue) -> Option<JsonObject> {
    if !raw.get().trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// An attribute's text: a string as it is, any other value as the JSON it
/// was sent as, without the spaces between its tokens (numbers keep every
/// digit; objects keep their members' order).
pub fn attribute_text(raw: &RawValue) -> String {
    let text = raw.get().trim();
    if text.starts_with('"') {
        return serde_json::from_str(text).unwrap_or_default();
    }
    let mut compact = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c.is_ascii_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        compact.push(c);
    }
    compact
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A timestamp as a client may send it: an RFC 3339 string, or a Unix epoch
/// number whose unit is told by its size (seconds, milliseconds, microseconds
/// or nanoseconds; fractions of seconds allowed).
pub fn parse_timestamp(value: &Value) -> Result<DateTime<Utc>, String> {
    const ACCEPTED: &str = "an RFC 3339 string like \"2024-05-01T12:00:00.123Z\" or a Unix epoch number \
         (seconds, milliseconds, microseconds or nanoseconds)";
    let parsed = match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("\"{s}\" is not a valid timestamp ({e}); expected {ACCEPTED}"))?,
        Value::Number(n) => n
            .as_i64()
            .map_or_else(
                || {
                    decimal_epoch_to_datetime(&n.to_string())
                        .or_else(|| epoch_to_datetime(n.as_f64().unwrap_or(f64::NAN)))
                },
                integer_epoch_to_datetime,
            )
            .ok_or_else(|| format!("{n} is out of range; expected {ACCEPTED}"))?,
        other => return Err(format!("expected {ACCEPTED}, got {}", json_type(other))),
    };
    if parsed.timestamp_nanos_opt().is_none() {
        return Err("must lie between the years 1678 and 2261".to_string());
    }
    Ok(parsed)
}

/// Nanoseconds per unit of an epoch number of this size: below 1e11 it counts
/// seconds (until the year 5138), below 1e14 milliseconds, below 1e17
/// microseconds, and nanoseconds above.
fn nanos_per_epoch_unit(magnitude: f64) -> i64 {
    match magnitude {
        m if m < 1e11 => 1_000_000_000,
        m if m < 1e14 => 1_000_000,
        m if m < 1e17 => 1_000,
        _ => 1,
    }
}

fn integer_epoch_to_datetime(epoch: i64) -> Option<DateTime<Utc>> {
    let nanos = epoch.checked_mul(nanos_per_epoch_unit(epoch.unsigned_abs() as f64))?;
    Some(Utc.timestamp_nanos(nanos))
}

/// An epoch with a fraction, from its decimal text (`1714564800.25`), exact
/// to the nanosecond, which an f64 is not for today's times in seconds.
/// `None` for an exponent or more digits than an i64 holds.
fn decimal_epoch_to_datetime(text: &str) -> Option<DateTime<Utc>> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.')?;
    if !(whole.bytes().all(|b| b.is_ascii_digit()) && fraction.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let unit = nanos_per_epoch_unit(whole as f64);
    // The fraction of one unit, in nanoseconds (digits past 1 ns are dropped).
    let unit_digits = unit.ilog10() as usize;
    let mut padded: String = fraction.chars().take(unit_digits).collect();
    while padded.len() < unit_digits {
        padded.push('0');
    }
    let part: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    };
    let nanos = whole.checked_mul(unit)?.checked_add(part)?;
    Some(Utc.timestamp_nanos(if negative { -nanos } else { nanos }))
}

fn epoch_to_datetime(epoch: f64) -> Option<DateTime<Utc>> {
    if !epoch.is_finite() {
        return None;
    }
    let nanos = epoch * nanos_per_epoch_unit(epoch.abs()) as f64;
    if nanos.abs() >= i64::MAX as f64 {
        return None;
    }
    Some(Utc.timestamp_nanos(nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn received() -> DateTime<Utc> {
        "2024-01-02T03:04:05Z".parse().unwrap()
    }

    fn record_from_value(
        value: Value,
        received: DateTime<Utc>,
    ) -> Result<LogRecord, Vec<FieldError>> {
        record_from_text(&value.to_string(), received)
    }

    fn record_from_text(text: &str, received: DateTime<Utc>) -> Result<LogRecord, Vec<FieldError>> {
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        record_from_json(json_object(&raw)?, received)
    }

    #[test]
    fn attributes_keep_the_json_text_of_numbers_and_nested_values() {
        let r = record_from_text(
            r#"{"service": "s", "message": "m", "big": 123456789012345678901,
                "attributes": {"f": 0.10000000000000000555, "e": 1E3, "neg": -9223372036854775809,
                               "nested": { "b" : [1.50, "a \" b",  true], "a": null },
                               "text": "plain \u00e9"}}"#,
            received(),
        )
        .unwrap();
        assert_eq!(r.attributes["big"], "123456789012345678901");
        assert_eq!(r.attributes["f"], "0.10000000000000000555");
        assert_eq!(r.attributes["e"], "1E3");
        assert_eq!(r.attributes["neg"], "-9223372036854775809");
        assert_eq!(
            r.attributes["nested"],
            r#"{"b":[1.50,"a \" b",true],"a":null}"#
        );
        assert_eq!(r.attributes["text"], "plain é");
    }

    #[test]
    fn seed_record_gets_id_and_receive_time() {
        let r = record_from_value(
            json!({"service": "user-service", "level": "INFO", "message": "User login successful"}),
            received(),
        )
        .unwrap();
        assert_eq!(r.service, "user-service");
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.timestamp, received());
        assert_eq!(Uuid::parse_str(&r.id).unwrap().get_version_num(), 7);
    }

    #[test]
    fn metadata_and_unknown_fields_become_attributes() {
        let r = record_from_value(
            json!({"service": "api", "message": "m", "metadata": {"user_id": 42, "ok": true, "name": "ann"},
                   "region": "eu", "traceId": "t1"}),
            received(),
        )
        .unwrap();
        assert_eq!(r.attributes["user_id"], "42");
        assert_eq!(r.attributes["ok"], "true");
        assert_eq!(r.attributes["name"], "ann");
        assert_eq!(r.attributes["region"], "eu");
        assert_eq!(r.trace_id.as_deref(), Some("t1"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = record_from_value(
            json!({"service": "", "level": "loud", "timestamp": "yesterday"}),
            received(),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"service"), "{errors:?}");
        assert!(fields.contains(&"level"), "{errors:?}");
        assert!(fields.contains(&"timestamp"), "{errors:?}");
        assert!(fields.contains(&"message"), "{errors:?}");
        let level = errors.iter().find(|e| e.field == "level").unwrap();
        assert!(level.message.contains("accepted: TRACE"), "{level}");
    }

    #[test]
    fn oversized_message_and_too_many_attributes_are_rejected() {
        let attrs: Map<String, Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        let errors = record_from_value(
            json!({"service": "s", "message": "x".repeat(MAX_MESSAGE_LEN + 1), "attributes": attrs}),
            received(),
        )
        .unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.field == "message" && e.message.contains("at most 65536"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.field == "attributes" && e.message.contains("at most 64"))
        );
    }

    #[test]
    fn non_objects_are_rejected() {
        let errors = record_from_value(json!([1, 2]), received()).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("expected a JSON object, got an array")
        );
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let expect: DateTime<Utc> = "2024-05-01T12:00:00.123456789Z".parse().unwrap();
        assert_eq!(
            parse_timestamp(&json!("2024-05-01T12:00:00.123456789Z")),
            Ok(expect)
        );
        assert_eq!(
            parse_timestamp(&json!("2024-05-01T14:00:00.123456789+02:00")),
            Ok(expect)
        );
        assert_eq!(
            parse_timestamp(&json!(1_714_564_800_123_456_789_i64)),
            Ok(expect)
        );
        let ms: DateTime<Utc> = "2024-05-01T12:00:00.123Z".parse().unwrap();
        assert_eq!(parse_timestamp(&json!(1_714_564_800_123_i64)), Ok(ms));
        assert_eq!(
            parse_timestamp(&json!(1_714_564_800)),
            Ok("2024-05-01T12:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_timestamp(&json!(1_714_564_800.5)),
            Ok("2024-05-01T12:00:00.5Z".parse().unwrap())
        );
        // Fluent Bit's `date`: exact, where an f64 would be 128 ns off.
        assert_eq!(
            parse_timestamp(&json!(1_714_564_800.25)),
            Ok("2024-05-01T12:00:00.25Z".parse().unwrap())
        );
        assert_eq!(
            parse_timestamp(&json!(1_714_564_800_123.456)),
            Ok("2024-05-01T12:00:00.123456Z".parse().unwrap())
        );
        assert!(
            parse_timestamp(&json!("soon"))
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(parse_timestamp(&json!(true)).is_err());
    }

    #[test]
    fn nanosecond_precision_survives_json() {
        let r = record_from_value(
            json!({"service": "s", "message": "m", "timestamp": "2024-05-01T12:00:00.123456789Z"}),
            received(),
        )
        .unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("2024-05-01T12:00:00.123456789Z"), "{text}");
        let back: LogRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    /// A service or attribute key with an escape sequence reached terminals
    /// raw through `lsctl -o csv` and `-o raw`.
    #[test]
    fn control_characters_in_service_and_attribute_keys_are_refused() {
        let errors = record_from_value(
            json!({"service": "api\u{1b}[2J", "message": "m", "attributes": {"a\u{7}b": "v"}}),
            received(),
        )
        .unwrap_err();
        let service = errors.iter().find(|e| e.field == "service").unwrap();
        assert_eq!(
            service.message,
            r#""api\u{1b}[2J" has the control character '\u{1b}'; services are printable text"#
        );
        let key = errors.iter().find(|e| e.field == "attributes").unwrap();
        assert_eq!(
            key.message,
            r#"key "a\u{7}b" has the control character '\u{7}'; keys are printable text"#
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        // Messages and attribute values may hold newlines and tabs.
        let fine = json!({"service": "api", "message": "a\n\tb", "attributes": {"k": "x\ny"}});
        assert!(record_from_value(fine, received()).is_ok());
    }

    #[test]
    fn fit_to_limits_takes_control_characters_out_of_service_and_keys() {
        let mut record =
            record_from_value(json!({"service": "s", "message": "m"}), received()).unwrap();
        record.service = "we\u{1b}b".into();
        record.attributes.insert("k\u{0}ey".into(), "1".into());
        record.attributes.insert("key".into(), "2".into());
        record.attributes.insert("\u{7}".into(), "3".into());
        fit_to_limits(&mut record);
        assert_eq!(validate(&record), vec![]);
        assert_eq!(record.service, "web");
        assert_eq!(record.attributes["key"], "2");
        assert_eq!(record.attributes["_"], "3");
        assert_eq!(record.attributes[TRUNCATED_FIELDS], "service,attributes._");
        assert_eq!(record.attributes[DROPPED_ATTRIBUTES], "1");

        record.service = "\u{1b}\u{7}".into();
        fit_to_limits(&mut record);
        assert_eq!(record.service, UNKNOWN_SERVICE);
    }

    #[test]
    fn fit_to_limits_cuts_and_notes_instead_of_refusing() {
        let mut record =
            record_from_value(json!({"service": "s", "message": "m"}), received()).unwrap();
        record.service = String::new();
        record.message = "é".repeat(MAX_MESSAGE_LEN);
        record.host = Some("h\u{0}ost".into());
        record.trace_id = Some(String::new());
        for i in 0..100 {
            record.attributes.insert(format!("k{i:03}"), "v".into());
        }
        record
            .attributes
            .insert("k000".into(), "x".repeat(MAX_ATTRIBUTE_VALUE_LEN + 1));
        fit_to_limits(&mut record);
        assert_eq!(validate(&record), vec![]);
        assert_eq!(record.service, UNKNOWN_SERVICE);
        assert_eq!(record.message.len(), MAX_MESSAGE_LEN);
        assert_eq!(record.host.as_deref(), Some("host"));
        assert_eq!(record.trace_id, None);
        assert_eq!(
            record.attributes[TRUNCATED_FIELDS],
            "message,host,attributes.k000"
        );
        assert_eq!(record.attributes[DROPPED_ATTRIBUTES], "38");
        assert_eq!(record.attributes.len(), MAX_ATTRIBUTES);
    }

    #[test]
    fn fit_to_limits_leaves_a_valid_record_alone() {
        let record = record_from_value(
            json!({"service": "s", "message": "m", "attributes": {"a": "b"}}),
            received(),
        )
        .unwrap();
        let mut fitted = record.clone();
        fit_to_limits(&mut fitted);
        assert_eq!(fitted, record);
    }
}
