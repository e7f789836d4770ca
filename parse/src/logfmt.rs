//! logfmt lines: `time=2024-05-01T12:00:00Z level=warn msg="disk full" user=42`.

use logstream_shared::JsonObject;
use serde_json::value::to_raw_value;

use super::{Context, Parsed, json};

/// A line made only of key=value pairs (values may be "quoted", with `\"`
/// and `\\` escapes). Unless `forced` (`--format logfmt`), it takes two pairs
/// or one with a well-known key (msg, level…) to be logfmt rather than text.
/// The fields are read as for JSON (same names); without a message field the
/// whole line is the message.
pub(super) fn parse(line: &str, cx: Context, forced: bool) -> Option<Parsed> {
    let pairs = pairs(line)?;
    let well_known =
        |key: &str| ["msg", "message", "level", "lvl", "time", "ts", "timestamp"].contains(&key);
    if !forced && pairs.len() < 2 && !pairs.iter().any(|(k, _)| well_known(k)) {
        return None;
    }
    // Values as JSON strings: read as they are (no number conversion).
    let object: JsonObject = pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, to_raw_value(&v).ok()?)))
        .collect();
    Some(json::from_object(object, line, cx))
}

/// Every key=value pair of the line; `None` unless the line is only that.
fn pairs(line: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        if !is_key(key) {
            return None;
        }
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                if after[..end].contains('"') {
                    return None;
                }
                (after[..end].to_string(), &after[end..])
            }
        };
        if !(after.is_empty() || after.starts_with(char::is_whitespace)) {
            return None;
        }
        pairs.push((key.to_string(), value));
        rest = after.trim_start();
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// A key: a letter, `_` or `@`, then letters, digits and `_.-/@`.
fn is_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/@".contains(c))
}

/// A quoted value (after its opening quote): the text and what follows.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    loop {
        match chars.next()? {
            (i, '"') => return Some((value, &text[i + 1..])),
            (_, '\\') => match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                c @ ('"' | '\\') => value.push(c),
                c => {
                    value.push('\\');
                    value.push(c);
                }
            },
            (_, c) => value.push(c),
        }
    }
}
