//! What container runtimes write around a program's lines (Docker's
//! json-file driver, the CRI format of containerd and CRI-O that Kubernetes
//! nodes keep), and Kubernetes' own klog layout.

use logstream_shared::JsonObject;
use logstream_shared::LogRecord;
use logstream_shared::record::{attribute_text, value_of};
use serde_json::Value;

use super::{Layout, Start, inner, level, put, time};
use crate::text::token;
use crate::{Context, MAX_MESSAGE_LEN, Parsed, json};

/// Docker's json-file driver: `{"log":"…\n","stream":"stderr","time":"…"}`.
/// A line longer than 16 KiB comes in parts, all but the last without the
/// final newline.
pub(super) const DOCKER: Layout = Layout {
    name: "docker-json",
    aliases: &["docker"],
    title: "Docker json-file lines; the inner line is read by its own layout",
    example: r#"{"log":"2026-11-27 12:00:01,123 WARN [main] app.Db - slow\n","stream":"stderr","time":"2026-11-27T12:00:01.123456789Z"}"#,
    start: Start::Brace,
    read: docker,
    follow: Some(docker_follow),
    general: false,
    wraps: true,
};

/// The CRI log format of containerd and CRI-O: `TIME STREAM TAG LINE`, the
/// tag `P` for a partial line continued by the next, `F` for the last part.
pub(super) const CRI: Layout = Layout {
    name: "cri",
    aliases: &["containerd", "cri-o", "kubernetes"],
    title: "Kubernetes node logs (containerd, CRI-O); partial lines are joined",
    example: "2026-11-27T12:00:01.123456789Z stdout F GET /healthz 200",
    start: Start::Digit,
    read: cri,
    follow: Some(cri_follow),
    general: false,
    wraps: true,
};

/// klog (Kubernetes components): `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`.
pub(super) const KLOG: Layout = Layout {
    name: "klog",
    aliases: &["glog", "kubernetes-component"],
    title: "klog / glog (Kubernetes components): level letter I W E F",
    example: "I1127 12:00:01.123456   12345 controller.go:42] Starting workers",
    start: Start::Letter,
    read: klog,
    follow: None,
    general: false,
    wraps: false,
};

/// A Docker line's parts: the program's line (newline cut), its stream and
/// time, and whether the line is complete.
fn docker_parts(line: &str) -> Option<(JsonObject, String, bool)> {
    if !line.contains("\"log\"") {
        return None;
    }
    let mut object = json::object(line)?;
    let Value::String(log) = value_of(&object.remove("log")?) else {
        return None;
    };
    value_of(object.get("stream")?).as_str()?;
    let complete = log.ends_with('\n');
    Some((
        object,
        log.trim_end_matches(['\n', '\r']).to_string(),
        complete,
    ))
}

fn docker(line: &str, cx: Context) -> Option<Parsed> {
    let (mut object, log, complete) = docker_parts(line)?;
    let mut parsed = inner(&log, cx);
    let time = object.remove("time");
    if parsed.timestamp.is_none() {
        parsed.timestamp = time.and_then(|t| json::time_of(&value_of(&t), cx));
    }
    for (key, value) in object {
        parsed
            .attributes
            .entry(key)
            .or_insert_with(|| attribute_text(&value));
    }
    parsed.open = !complete;
    Some(parsed)
}

fn docker_follow(record: &mut LogRecord, line: &str, _cx: Context) -> Option<bool> {
    let (_, log, complete) = docker_parts(line.trim())?;
    append(record, &log);
    Some(!complete)
}

/// A CRI line's time, stream, whether it is partial, and the program's line.
fn cri_parts(line: &str, cx: Context) -> Option<(chrono::DateTime<chrono::Utc>, &str, bool, &str)> {
    let (timestamp, len) = time::iso(line, cx)?;
    let rest = line[len..].strip_prefix(' ')?;
    let (stream, rest) = rest.split_once(' ')?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let (tag, content) = rest.split_once(' ').unwrap_or((rest, ""));
    let partial = match tag.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return None,
    };
    Some((timestamp, stream, partial, content))
}

fn cri(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, stream, partial, content) = cri_parts(line, cx)?;
    let mut parsed = inner(content, cx);
    parsed.timestamp = parsed.timestamp.or(Some(timestamp));
    put(&mut parsed, &[("stream", Some(stream))]);
    parsed.open = partial;
    Some(parsed)
}

fn cri_follow(record: &mut LogRecord, line: &str, cx: Context) -> Option<bool> {
    let (_, _, partial, content) = cri_parts(line, cx)?;
    append(record, content);
    Some(partial)
}

/// The next part of a line split by the runtime, joined without a separator.
fn append(record: &mut LogRecord, part: &str) {
    let room = MAX_MESSAGE_LEN.saturating_sub(record.message.len());
    let mut end = part.len().min(room);
    while !part.is_char_boundary(end) {
        end -= 1;
    }
    record.message.push_str(&part[..end]);
}

fn klog(line: &str, cx: Context) -> Option<Parsed> {
    let b = line.as_bytes();
    if !matches!(b.first(), Some(b'I' | b'W' | b'E' | b'F')) {
        return None;
    }
    let (timestamp, len) = time::klog(&line[1..], cx)?;
    let (thread, rest) = token(&line[1 + len..]);
    let (source, message) = rest.split_once("] ")?;
    if source.contains(' ') || !thread.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: level::letter(b[0]),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[("thread", Some(thread)), ("source", Some(source))],
    );
    Some(parsed)
}
