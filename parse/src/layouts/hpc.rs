//! Supercomputers' system logs as the Usenix CFDR and Loghub collections
//! keep them: an alert tag (`-` for none), epoch seconds, a date and a node
//! before the node's own line (Blue Gene/L's RAS records; Thunderbird's,
//! Spirit's and Liberty's syslog lines).

use chrono::{DateTime, Utc};

use super::{Layout, Start, level, put, time};
use crate::text::{tag, token};
use crate::{Context, Parsed};

pub(super) const BGL: Layout = Layout {
    name: "bgl",
    aliases: &["bluegene"],
    title: "Blue Gene/L RAS log: alert, epoch, date, node, time, node, type, component, level",
    example: "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
    start: Start::Any,
    read: bgl,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const THUNDERBIRD: Layout = Layout {
    name: "thunderbird",
    aliases: &["spirit", "liberty"],
    title: "Thunderbird / Spirit / Liberty: alert, epoch, date, node, then a syslog line",
    example: "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root",
    start: Start::Any,
    read: thunderbird,
    follow: None,
    general: false,
    wraps: false,
};

/// The fields before the node's line: alert tag, time, node, and the rest.
fn header(line: &str) -> Option<(&str, DateTime<Utc>, &str, &str)> {
    let (alert, rest) = token(line);
    let (epoch, rest) = token(rest);
    let (date, rest) = token(rest);
    let (node, rest) = token(rest);
    let b = date.as_bytes();
    let dotted = b.len() == 10 && b[4] == b'.' && b[7] == b'.';
    if epoch.len() != 10 || !dotted || alert.is_empty() || node.is_empty() {
        return None;
    }
    let timestamp = DateTime::from_timestamp(epoch.parse().ok()?, 0)?;
    Some((alert, timestamp, node, rest))
}

/// The attributes every such line has: its alert tag, when it has one.
fn start(alert: &str, node: &str, timestamp: DateTime<Utc>) -> Parsed {
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        ..Parsed::default()
    };
    put(&mut parsed, &[("alert", Some(alert)), ("node", Some(node))]);
    parsed
}

fn bgl(line: &str, cx: Context) -> Option<Parsed> {
    let (alert, timestamp, node, rest) = header(line)?;
    let (stamp, rest) = token(rest);
    let (_, rest) = token(rest);
    let (kind, rest) = token(rest);
    let (component, rest) = token(rest);
    let (word, message) = token(rest);
    // The epoch is exact; the local time beside it adds the microseconds.
    let (local, _) = time::dotted_clock(stamp, cx)?;
    let timestamp =
        timestamp + chrono::Duration::nanoseconds(i64::from(local.timestamp_subsec_nanos()));
    let mut parsed = start(alert, node, timestamp);
    parsed.level = Some(match word {
        "FAILURE" => logstream_shared::Level::Error,
        other => level::word(other)?,
    });
    parsed.message = message.to_string();
    put(
        &mut parsed,
        &[("type", Some(kind)), ("component", Some(component))],
    );
    Some(parsed)
}

fn thunderbird(line: &str, _cx: Context) -> Option<Parsed> {
    let (alert, timestamp, node, rest) = header(line)?;
    // `Nov 9 12:01:01 source tag: message`; the time repeats the epoch's.
    let (month, rest) = token(rest);
    let (day, rest) = token(rest);
    let (clock, rest) = token(rest);
    if time::month_name(month.as_bytes(), 0).is_none() || day.len() > 2 || clock.len() != 8 {
        return None;
    }
    let (source, rest) = token(rest);
    let mut parsed = start(alert, node, timestamp);
    let (first, after) = token(rest);
    let message = match program(first) {
        Some((service, module, pid)) => {
            parsed.service = Some(service.to_string());
            put(&mut parsed, &[("pid", pid), ("module", module)]);
            after
        }
        None => rest,
    };
    put(&mut parsed, &[("source", Some(source))]);
    parsed.level = level::near_start(message)
        .or_else(|| (alert != "-").then_some(logstream_shared::Level::Error));
    parsed.message = message.to_string();
    Some(parsed)
}

/// A syslog tag with a module, `crond(pam_unix)[2915]:`: the program, the
/// module and the pid.
fn program(word: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let word = word.strip_suffix(':')?;
    let (name, pid) = match word.strip_suffix(']') {
        Some(rest) => rest.split_once('[').map(|(n, p)| (n, Some(p)))?,
        None => (word, None),
    };
    let (service, module) = match name.strip_suffix(')') {
        Some(rest) => rest.split_once('(').map(|(s, m)| (s, Some(m)))?,
        None => (name, None),
    };
    tag(&format!("{service}:"))?;
    Some((service, module, pid))
}
