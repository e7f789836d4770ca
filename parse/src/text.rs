//! Text layouts: syslog (RFC 3164 and 5424), and lines that start with a
//! timestamp, then perhaps a level word, a `[name]` and a log4j-style
//! `logger - ` before the message.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use logstream_shared::Level;

use super::layouts::{level, time};
use super::{Context, Parsed, Zone, logfmt};

/// What a syslog, or timestamped text, line says; `None` for any other line.
pub(super) fn parse(line: &str, cx: Context) -> Option<Parsed> {
    syslog_line(line, cx).or_else(|| timestamped_line(line, cx))
}

/// A syslog line: with a priority (RFC 5424, RFC 3164), or RFC 3164 without.
pub(crate) fn syslog_line(line: &str, cx: Context) -> Option<Parsed> {
    let text = line.trim();
    if let Some(message) = syslog(text, cx) {
        return Some(message.parsed);
    }
    rfc3164(text, cx).map(|parsed| completed(parsed, text))
}

/// A line that starts with an ISO-style timestamp (see [`timestamped`]).
pub(crate) fn timestamped_line(line: &str, cx: Context) -> Option<Parsed> {
    let text = line.trim();
    timestamped(text, cx).map(|parsed| completed(parsed, text))
}

/// A line whose header names a level (log4j's, logback's): as [`timestamped_line`].
pub(crate) fn leveled_line(line: &str, cx: Context) -> Option<Parsed> {
    let text = line.trim();
    let parsed = timestamped(text, cx).filter(|p| p.level.is_some())?;
    Some(completed(parsed, text))
}

/// The level of a level word near the message's start when the header named
/// none, and the whole line as the message when nothing follows the header.
fn completed(mut parsed: Parsed, text: &str) -> Parsed {
    if parsed.level.is_none() {
        parsed.level = level_near_start(&parsed.message);
    }
    if parsed.message.trim().is_empty() {
        parsed.message = text.to_string();
    }
    parsed
}

/// A syslog message: its priority, and what its header and structured data say.
#[derive(Debug, Clone, PartialEq)]
pub struct Syslog {
    /// 0 (kern) to 23 (local7); [`facility_name`] names it.
    pub facility: u8,
    /// 0 (emergency) to 7 (debug); `parsed.level` is its [`severity_level`].
    pub severity: u8,
    /// Time, host, service (APP-NAME or the tag), the message, and as
    /// attributes `pid` (PROCID), `msgid` (MSGID) and each structured-data
    /// parameter by its name.
    pub parsed: Parsed,
}

/// A message that starts with a syslog priority, `<PRI>`: RFC 5424
/// (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), RFC 3164 (`<PRI>Nov 27
/// 12:00:01 host app[pid]: MSG`), or a priority and a tag without the
/// header (`<PRI>app[pid]: MSG`, as Python's SysLogHandler and many devices
/// send); anything else after a priority is the message. `None` without a
/// priority.
pub fn syslog(text: &str, cx: Context) -> Option<Syslog> {
    let text = text.trim();
    let (priority, rest) = priority(text)?;
    let mut parsed = rfc5424(rest, cx)
        .or_else(|| rfc3164(rest, cx))
        .or_else(|| tag_only(rest))
        .unwrap_or_else(|| Parsed {
            message: rest.trim().to_string(),
            ..Parsed::default()
        });
    // The priority's severity is the level.
    parsed.level = Some(severity_level(priority % 8));
    if parsed.message.trim().is_empty() {
        parsed.message = text.to_string();
    } else if parsed.message.starts_with(' ') {
        // The space after an RFC 3164 tag's colon, which relays such as
        // rsyslog keep when they rewrite a message as RFC 5424.
        parsed.message = parsed.message.trim_start_matches(' ').to_string();
    }
    Some(Syslog {
        facility: priority / 8,
        severity: priority % 8,
        parsed,
    })
}

/// The name of a syslog facility (RFC 5424's table, in the names of
/// syslog.conf and `logger -p`), e.g. `user` for 1, `local0` for 16.
pub fn facility_name(facility: u8) -> Option<&'static str> {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES.get(usize::from(facility)).copied()
}

/// After a priority, a tag and no header: `app: MSG` or `app[123]: MSG`.
fn tag_only(text: &str) -> Option<Parsed> {
    let (first, message) = token(text);
    let (app, pid) = tag(first)?;
    let mut parsed = Parsed {
        service: Some(app.to_string()),
        message: message.to_string(),
        ..Parsed::default()
    };
    parsed
        .attributes
        .extend(pid.map(|p| ("pid".into(), p.into())));
    Some(parsed)
}

/// The level of a line sent as it is: a level word among its first words;
/// a traceback or an uncaught exception is an error; else INFO.
pub(super) fn plain_level(line: &str) -> Level {
    level_near_start(line).unwrap_or_else(|| {
        let line = line.trim_start();
        if line.starts_with("Traceback (most recent call last):")
            || line.starts_with("Exception in thread ")
        {
            Level::Error
        } else {
            Level::Info
        }
    })
}

pub(super) use level::near_start as level_near_start;
use level::word as level_word;

/// The level of a syslog severity, 0 (emergency) to 7 (debug).
pub fn severity_level(severity: u8) -> Level {
    match severity {
        0..=2 => Level::Fatal,
        3 => Level::Error,
        4 => Level::Warn,
        5 | 6 => Level::Info,
        _ => Level::Debug,
    }
}

/// `<PRI>` at the start: the priority (facility × 8 + severity) and the rest.
fn priority(text: &str) -> Option<(u8, &str)> {
    let rest = text.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let priority: u8 = digits.parse().ok().filter(|p| *p <= 191)?;
    Some((priority, &rest[end + 1..]))
}

/// RFC 5424 after the priority: `1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]`,
/// `-` for an absent field.
fn rfc5424(text: &str, _cx: Context) -> Option<Parsed> {
    let rest = text.strip_prefix("1 ")?;
    let mut fields = rest.splitn(6, ' ');
    let timestamp = fields.next()?;
    let host = fields.next()?;
    let app = fields.next()?;
    let procid = fields.next()?;
    let msgid = fields.next()?;
    let rest = fields.next()?;
    let nil = |field: &str| (field != "-").then(|| field.to_string());
    let mut parsed = Parsed {
        timestamp: match timestamp {
            "-" => None,
            t => Some(DateTime::parse_from_rfc3339(t).ok()?.to_utc()),
        },
        host: nil(host),
        service: nil(app),
        ..Parsed::default()
    };
    if let Some(pid) = nil(procid) {
        parsed.attributes.insert("pid".into(), pid);
    }
    if let Some(msgid) = nil(msgid) {
        parsed.attributes.insert("msgid".into(), msgid);
    }
    let message = match rest.strip_prefix('-') {
        Some(message) => message,
        None => structured_data(rest, &mut parsed)?,
    };
    let message = message.strip_prefix(' ').unwrap_or(message);
    parsed.message = message.trim_start_matches('\u{feff}').to_string();
    Some(parsed)
}

/// RFC 5424 structured data, `[id name="value" …]…`: each parameter becomes
/// an attribute. Returns what follows it.
fn structured_data<'a>(mut text: &'a str, parsed: &mut Parsed) -> Option<&'a str> {
    if !text.starts_with('[') {
        return None;
    }
    while let Some(element) = text.strip_prefix('[') {
        let id_end = element.find([' ', ']'])?;
        let mut rest = &element[id_end..];
        loop {
            if let Some(after) = rest.strip_prefix(']') {
                text = after;
                break;
            }
            let param = rest.strip_prefix(' ')?;
            let (name, value) = param.split_once("=\"")?;
            let mut unescaped = String::new();
            let mut chars = value.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => {
                        let (_, c) = chars.next()?;
                        if !matches!(c, '"' | '\\' | ']') {
                            unescaped.push('\\');
                        }
                        unescaped.push(c);
                    }
                    (_, c) => unescaped.push(c),
                }
            };
            parsed.attributes.insert(name.to_string(), unescaped);
            rest = &value[end + 1..];
        }
    }
    Some(text)
}

/// RFC 3164 (BSD) syslog, `Nov 27 12:00:01 host app[123]: message`, and its
/// variant with an RFC 3339 time (rsyslog's `2024-05-01T12:00:01.5+02:00
/// host app[123]: message`, recognised only with the `[pid]`).
fn rfc3164(text: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, rest, precise) = match bsd_timestamp(text, cx) {
        Some((t, rest)) => (t, rest, false),
        None => {
            let (t, rest) = iso_timestamp(text, cx.zone)?;
            (t, rest, true)
        }
    };
    let rest = rest.strip_prefix(' ')?.trim_start();
    let (first, after_first) = token(rest);
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        ..Parsed::default()
    };
    let message = if let Some(found) = tag(first) {
        // No host: `Nov 27 12:00:01 app[123]: message`.
        if !apply_tag(&mut parsed, found, precise) {
            return None;
        }
        after_first
    } else {
        if !is_host(first) {
            return None;
        }
        let (second, after_second) = token(after_first);
        match tag(second) {
            Some(found) => {
                if !apply_tag(&mut parsed, found, precise) {
                    return None;
                }
                parsed.host = Some(first.to_string());
                after_second
            }
            None if precise => return None,
            None => {
                parsed.host = Some(first.to_string());
                after_first
            }
        }
    };
    parsed.message = message.to_string();
    Some(parsed)
}

/// Takes the service and the `pid` attribute from a tag; false when the
/// layout must have a pid (the RFC 3339 variant) and the tag has none.
fn apply_tag(parsed: &mut Parsed, (app, pid): (&str, Option<&str>), precise: bool) -> bool {
    if precise && pid.is_none() {
        return false;
    }
    parsed.service = Some(app.to_string());
    parsed
        .attributes
        .extend(pid.map(|p| ("pid".into(), p.into())));
    true
}

/// A syslog tag with its colon: `app:` or `app[123]:`, as (app, pid).
pub(crate) fn tag(token: &str) -> Option<(&str, Option<&str>)> {
    let token = token.strip_suffix(':')?;
    let (app, pid) = match token.strip_suffix(']') {
        Some(rest) => {
            let (app, pid) = rest.split_once('[')?;
            (app, Some(pid))
        }
        None => (token, None),
    };
    let app_ok = !app.is_empty()
        && app.len() <= 48
        && app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-@".contains(c));
    let pid_ok = pid.is_none_or(|p| !p.is_empty() && p.len() <= 32 && !p.contains(['[', ']']));
    (app_ok && pid_ok).then_some((app, pid))
}

fn is_host(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 255
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c))
}

/// The first whitespace-separated word and what follows it (trimmed).
pub(crate) fn token(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], text[end..].trim_start()),
        None => (text, ""),
    }
}

/// `Nov 27 12:00:01` (or `Nov  7 …`) and the rest (empty or after a space).
fn bsd_timestamp(text: &str, cx: Context) -> Option<(DateTime<Utc>, &str)> {
    let (timestamp, len) = time::bsd(text, cx)?;
    let rest = &text[len..];
    (rest.is_empty() || rest.starts_with(' ')).then_some((timestamp, rest))
}

/// A leading `2024-05-01T12:00:01.123Z`, `2024-05-01 12:00:01,123`,
/// `2024/05/01 12:00:01` (optionally in brackets): the time (in `zone` when
/// it names none) and the rest.
pub(super) fn iso_timestamp(text: &str, zone: Zone) -> Option<(DateTime<Utc>, &str)> {
    if let Some(inner) = text.strip_prefix('[') {
        let (naive, offset, len) = iso_prefix(inner)?;
        let rest = inner[len..].strip_prefix(']')?;
        return Some((resolve(naive, offset, zone), rest));
    }
    let (naive, offset, len) = iso_prefix(text)?;
    Some((resolve(naive, offset, zone), &text[len..]))
}

/// A whole value that is a timestamp in one of the [`iso_timestamp`] forms.
pub(super) fn timestamp_value(text: &str, zone: Zone) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (naive, offset, len) = iso_prefix(text)?;
    (len == text.len()).then(|| resolve(naive, offset, zone))
}

pub(crate) fn resolve(
    naive: NaiveDateTime,
    offset: Option<FixedOffset>,
    zone: Zone,
) -> DateTime<Utc> {
    match offset {
        Some(offset) => Zone::Fixed(offset).resolve(naive),
        None => zone.resolve(naive),
    }
}

/// Date, time, fraction and zone at the start of `text`, and their length.
pub(crate) fn iso_prefix(text: &str) -> Option<(NaiveDateTime, Option<FixedOffset>, usize)> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let year = digits(0, 4)?;
    let separator = *b.get(4)?;
    if !(separator == b'-' || separator == b'/') || b.get(7) != Some(&separator) {
        return None;
    }
    let (month, day) = (digits(5, 2)?, digits(8, 2)?);
    if !matches!(b.get(10), Some(b'T' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let mut len = 19;
    let mut nanos = 0;
    if matches!(b.get(19), Some(b'.' | b',')) {
        // Without digits the separator is not a fraction's: Windows' CBS
        // log puts a comma after the time (`2016-09-28 04:30:30, Info`).
        let count = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if count > 0 {
            let kept = count.min(9);
            nanos = digits(20, kept)? * 10u32.pow(9 - kept as u32);
            len = 20 + count;
        }
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = match parse_offset(&text[len..]) {
        Some((offset, n)) => {
            len += n;
            Some(offset)
        }
        None => None,
    };
    // The time must end there: not `2024-05-01 12:00:00abc`.
    if text[len..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((date.and_time(time), offset, len))
}

/// A zone at the start of `text`: `Z`, `+02:00`, `+0200` or `+02`, and its length.
pub(crate) fn parse_offset(text: &str) -> Option<(FixedOffset, usize)> {
    if text.starts_with(['Z', 'z']) {
        return Some((FixedOffset::east_opt(0)?, 1));
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let b = &text.as_bytes()[1..];
    let two = |from: usize| -> Option<i32> {
        let part = b.get(from..from + 2)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| i32::from(part[0] - b'0') * 10 + i32::from(part[1] - b'0'))
    };
    let hours = two(0)?;
    let (minutes, len) = if b.get(2) == Some(&b':') {
        (two(3)?, 6)
    } else if let Some(minutes) = two(2) {
        (minutes, 5)
    } else {
        (0, 3)
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?,
        len,
    ))
}

/// `TIMESTAMP [LEVEL] [[name]] [logger - ] message`, the header words in
/// either order: log4j (`2024-05-01 12:00:01,123 ERROR [main] com.example.App -
/// msg`, where the bracketed name is the thread), Python, Go, and lines such
/// as `2024-05-01T12:00:01Z WARN [billing] msg` (where it is the service). A
/// message made of key=value pairs is read as logfmt.
fn timestamped(text: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, rest) = iso_timestamp(text, cx.zone)?;
    let mut rest = rest.trim_start();
    let mut level = None;
    let mut name = None;
    let mut logger = None;
    for _ in 0..6 {
        let (word, after) = token(rest);
        if word == "-" || word == "|" {
            rest = after;
        } else if let Some(found) = level.is_none().then(|| level_word(word)).flatten() {
            level = Some(found);
            rest = after;
        } else if let Some(found) = name.is_none().then(|| bracketed_name(word)).flatten() {
            name = Some(found);
            rest = after;
        } else if logger.is_none() && (after == "-" || after.starts_with("- ")) && is_logger(word) {
            logger = Some(word);
            rest = after[1..].trim_start();
        } else if let Some(found) = logger.is_none().then(|| qualified_logger(word)).flatten() {
            // Hadoop's and logback's `[main] org.example.App: message`.
            logger = Some(found);
            rest = after;
        } else {
            break;
        }
    }
    let mut parsed = Parsed::default();
    match logger {
        // log4j's `[thread] logger - message`.
        Some(logger) => {
            parsed
                .attributes
                .insert("logger".into(), logger.to_string());
            parsed
                .attributes
                .extend(name.map(|n| ("thread".into(), n.to_string())));
        }
        None => parsed.service = name.map(str::to_string),
    }
    if let Some(pairs) = logfmt::parse(rest, cx, false) {
        let service = parsed.service.take();
        let mut attributes = std::mem::take(&mut parsed.attributes);
        parsed = pairs;
        parsed.service = parsed.service.or(service);
        attributes.append(&mut parsed.attributes);
        parsed.attributes = attributes;
        parsed.level = level.or(parsed.level);
    } else {
        parsed.message = rest.to_string();
        parsed.level = level;
    }
    parsed.timestamp = Some(timestamp);
    Some(parsed)
}

/// `[name]`, where the name could be a service or a thread: a letter, then
/// letters, digits and `._-:/@`.
fn bracketed_name(word: &str) -> Option<&str> {
    let name = word.strip_prefix('[')?.strip_suffix(']')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-:/@".contains(c)))
    .then_some(name)
}

/// A qualified logger name with its colon, `org.example.App:`; a single
/// word with a colon (`db:`) or a caller (`main.go:42:`) is taken as part
/// of the message.
pub(crate) fn qualified_logger(word: &str) -> Option<&str> {
    let name = word.strip_suffix(':')?;
    let qualified = name.contains('.') && !name.ends_with('.') && !name.contains(':');
    (qualified && is_logger(name)).then_some(name)
}

/// A logger name such as `com.example.App`, `app.db` or `main`.
pub(crate) fn is_logger(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._$:-".contains(c))
}
