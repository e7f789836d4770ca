//! Platforms' and services' own layouts: Android's logcat, Windows' CBS
//! log, Redis, MongoDB, OpenStack.

use logstream_shared::Level;
use logstream_shared::record::{members_of, value_of};

use super::{Layout, Start, bracketed, is_number, level, put, time};
use crate::text::{is_logger, token};
use crate::{Context, Parsed, json};

pub(super) const LOGCAT: Layout = Layout {
    name: "logcat",
    aliases: &["android", "logcat-threadtime"],
    title: "Android logcat, threadtime (the default): pid, tid, level letter V D I W E F, tag",
    example: "11-27 12:00:01.123  1702  2395 D WindowManager: Changing focus to Window{42}",
    start: Start::Digit,
    read: logcat,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const LOGCAT_BRIEF: Layout = Layout {
    name: "logcat-brief",
    aliases: &[],
    title: "Android logcat, brief: level/tag(pid)",
    example: "W/ActivityManager( 1702): Unable to start service Intent { act=x }",
    start: Start::Letter,
    read: logcat_brief,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const WINDOWS_CBS: Layout = Layout {
    name: "windows-cbs",
    aliases: &["cbs", "windows"],
    title: "Windows CBS / CSI / DISM text logs (time, level, component)",
    example: "2026-11-27 12:00:01, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
    start: Start::Digit,
    read: windows_cbs,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const REDIS: Layout = Layout {
    name: "redis",
    aliases: &["valkey"],
    title: "Redis / Valkey: pid:role, time, level mark . - * #",
    example: "4242:M 27 Nov 2026 12:00:01.123 # Server initialized with warnings",
    start: Start::Digit,
    read: redis,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const MONGODB: Layout = Layout {
    name: "mongodb",
    aliases: &["mongo"],
    title: "MongoDB 4.4+ structured JSON log (t.$date, s, c, ctx, msg)",
    example: r#"{"t":{"$date":"2026-11-27T12:00:01.123+00:00"},"s":"W","c":"NETWORK","id":22943,"ctx":"listener","msg":"Connection accepted"}"#,
    start: Start::Brace,
    read: mongodb,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const OSLO: Layout = Layout {
    name: "openstack",
    aliases: &["oslo"],
    title: "OpenStack (oslo.log): time, pid, level, logger, [request], maybe after a file name",
    example: "2026-11-27 12:00:01.008 25746 INFO nova.osapi_compute.wsgi.server [req-3810 113d 54fa - - -] 10.0.0.1 \"GET /v2/servers HTTP/1.1\" status: 200",
    start: Start::Any,
    read: oslo,
    follow: None,
    general: false,
    wraps: false,
};

fn logcat(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::month_day(line, cx).or_else(|| time::iso(line, cx))?;
    let (pid, rest) = token(&line[len..]);
    let (tid, rest) = token(rest);
    let (letter, rest) = token(rest);
    let (tag, message) = rest
        .split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|t| (t, "")))?;
    if !is_number(pid) || !is_number(tid) || letter.len() != 1 {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: level::letter(letter.as_bytes()[0]),
        message: super::nonempty(message, line),
        ..Parsed::default()
    };
    parsed.level?;
    put(
        &mut parsed,
        &[
            ("pid", Some(pid)),
            ("tid", Some(tid)),
            ("tag", Some(tag.trim())),
        ],
    );
    Some(parsed)
}

fn logcat_brief(line: &str, _cx: Context) -> Option<Parsed> {
    let b = line.as_bytes();
    if b.get(1) != Some(&b'/') {
        return None;
    }
    let (head, message) = line.split_once("): ")?;
    let (tag, pid) = head[2..].rsplit_once('(')?;
    let pid = pid.trim();
    if !is_number(pid) {
        return None;
    }
    let mut parsed = Parsed {
        level: Some(level::letter(b[0])?),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[("pid", Some(pid)), ("tag", Some(tag.trim()))],
    );
    Some(parsed)
}

fn windows_cbs(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::iso(line, cx)?;
    let rest = line[len..].strip_prefix(',')?;
    let (word, rest) = token(rest);
    let (component, message) = token(rest);
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level::name(word)?),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("component", Some(component))]);
    Some(parsed)
}

fn redis(line: &str, cx: Context) -> Option<Parsed> {
    let (pid, rest) = line.split_once(':')?;
    let (role, rest) = rest.split_once(' ')?;
    if !is_number(pid) || role.len() != 1 || !"MSCX".contains(role) {
        return None;
    }
    let (timestamp, len) = time::day_month_name(rest, cx)?;
    let (mark, message) = token(&rest[len..]);
    let level = match mark {
        "." | "-" => Level::Debug,
        "*" => Level::Info,
        "#" => Level::Warn,
        _ => return None,
    };
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("pid", Some(pid)), ("role", Some(role))]);
    Some(parsed)
}

fn mongodb(line: &str, cx: Context) -> Option<Parsed> {
    if !line.starts_with(r#"{"t":{"$date""#) {
        return None;
    }
    let mut object = json::object(line)?;
    let date = members_of(&object.remove("t")?)?.remove("$date")?;
    let severity = value_of(&object.remove("s")?);
    let mut parsed = json::from_object(object, line, cx);
    parsed.timestamp = json::time_of(&value_of(&date), cx);
    // F, E, W, I, and D1 … D5 for the debug levels.
    parsed.level = severity
        .as_str()
        .and_then(|s| level::letter(*s.as_bytes().first()?));
    if let Some(component) = parsed.attributes.remove("c") {
        parsed.attributes.insert("component".into(), component);
    }
    Some(parsed)
}

fn oslo(line: &str, cx: Context) -> Option<Parsed> {
    // Collected logs often start with the file's name.
    let (file, line) = match line.as_bytes().first()? {
        b'0'..=b'9' => (None, line),
        _ => {
            let (file, rest) = token(line);
            (file.contains(".log").then_some(file)?.into(), rest)
        }
    };
    let (timestamp, len) = time::iso(line, cx)?;
    let (pid, rest) = token(&line[len..]);
    let (word, rest) = token(rest);
    let (logger, rest) = token(rest);
    if !is_number(pid) || !is_logger(logger) {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level::word(word)?),
        message: rest.to_string(),
        ..Parsed::default()
    };
    if let Some((context, message)) = bracketed(rest) {
        let request = token(context).0;
        put(
            &mut parsed,
            &[(
                "request_id",
                Some(request).filter(|r| r.starts_with("req-")),
            )],
        );
        parsed.message = message.trim_start().to_string();
    }
    put(
        &mut parsed,
        &[("pid", Some(pid)), ("logger", Some(logger)), ("file", file)],
    );
    Some(parsed)
}
