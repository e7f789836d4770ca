//! Servers' logs: web servers and proxies (Apache httpd, nginx, Squid) and
//! databases (PostgreSQL, MySQL).

use logstream_shared::{Level, LogRecord};

use super::{Layout, Start, bracketed, is_number, level, put, time};
use crate::text::token;
use crate::{Context, Parsed};

/// The Common and Combined Log Formats of Apache httpd and nginx.
pub(super) const ACCESS: Layout = Layout {
    name: "access-log",
    aliases: &["apache-access", "nginx-access", "combined", "clf"],
    title: "Apache / nginx access log (common and combined); level by status",
    example: r#"203.0.113.7 - frank [27/Nov/2026:12:00:01 +0000] "GET /index.html HTTP/1.1" 200 2326 "https://example.com/" "Mozilla/5.0""#,
    start: Start::Any,
    read: access,
    follow: None,
    general: false,
    wraps: false,
};

/// Squid's native access log.
pub(super) const SQUID: Layout = Layout {
    name: "squid",
    aliases: &["squid-access"],
    title: "Squid access log (native); level by status",
    example: "1795780801.123    180 192.0.2.10 TCP_MISS/200 411 GET http://example.com/ - HIER_DIRECT/198.51.100.4 text/html",
    start: Start::Digit,
    read: squid,
    follow: None,
    general: false,
    wraps: false,
};

/// Apache httpd's error log, 2.2 (`[error]`) and 2.4 (`[module:level] [pid …]`).
pub(super) const APACHE_ERROR: Layout = Layout {
    name: "apache-error",
    aliases: &["httpd-error"],
    title: "Apache httpd error log (2.2 and 2.4)",
    example: "[Fri Nov 27 12:00:01.123456 2026] [core:error] [pid 4242:tid 1401] [client 203.0.113.7:51234] AH00128: File does not exist: /var/www/favicon.ico",
    start: Start::Bracket,
    read: apache_error,
    follow: None,
    general: false,
    wraps: false,
};

/// nginx's error log.
pub(super) const NGINX_ERROR: Layout = Layout {
    name: "nginx-error",
    aliases: &[],
    title: "nginx error log",
    example: r#"2026/11/27 12:00:01 [error] 1234#1234: *7 open() "/srv/x" failed (2: No such file or directory), client: 203.0.113.7, server: example.com, request: "GET /x HTTP/1.1""#,
    start: Start::Digit,
    read: nginx_error,
    follow: None,
    general: false,
    wraps: false,
};

/// PostgreSQL with the default `log_line_prefix = '%m [%p] '`.
pub(super) const POSTGRES: Layout = Layout {
    name: "postgres",
    aliases: &["postgresql"],
    title: "PostgreSQL server log (default prefix); DETAIL/HINT/STATEMENT lines are joined",
    example: "2026-11-27 12:00:01.123 UTC [12345] ERROR:  relation \"users\" does not exist at character 15",
    start: Start::Digit,
    read: postgres,
    follow: Some(postgres_follow),
    general: false,
    wraps: false,
};

/// MySQL 5.7 and 8 error log.
pub(super) const MYSQL: Layout = Layout {
    name: "mysql",
    aliases: &["mariadb", "mysql-error"],
    title: "MySQL / MariaDB error log",
    example: "2026-11-27T12:00:01.123456Z 0 [Warning] [MY-010068] [Server] CA certificate ca.pem is self signed.",
    start: Start::Digit,
    read: mysql,
    follow: None,
    general: false,
    wraps: false,
};

/// A `"quoted"` field at the start (with `\"` escapes, as nginx writes
/// them): its text as written and what follows.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some((&inner[..i], &inner[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

fn access(line: &str, cx: Context) -> Option<Parsed> {
    // Fields up to the time, each a word: a cheap refusal of other lines.
    let (client, rest) = token(line);
    let (ident, rest) = token(rest);
    let (user, rest) = token(rest);
    let rest = rest.strip_prefix('[')?;
    if client.contains('"') || ident.contains('"') || user.contains('"') {
        return None;
    }
    let (timestamp, len) = time::common_log(rest, cx)?;
    let rest = rest[len..].strip_prefix("] ")?;
    let (request, rest) = quoted(rest)?;
    let (status, rest) = token(rest);
    let (bytes, rest) = token(rest);
    let status: u16 = status.parse().ok().filter(|s| (100..600).contains(s))?;
    if !(is_number(bytes) || bytes == "-") {
        return None;
    }
    let mut parts = request.splitn(3, ' ');
    let (method, path, protocol) = (parts.next(), parts.next(), parts.next());
    let referer = quoted(rest.trim_start());
    let agent = referer.and_then(|(_, after)| quoted(after.trim_start()));
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level::http_status(status)),
        message: line.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[
            ("client_ip", Some(client)),
            ("user", Some(user)),
            ("method", method),
            ("path", path),
            ("protocol", protocol),
            ("status", Some(&status.to_string())),
            ("bytes", Some(bytes)),
            ("referer", referer.map(|(r, _)| r)),
            ("user_agent", agent.map(|(a, _)| a)),
        ],
    );
    Some(parsed)
}

fn squid(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::epoch(line, cx)?;
    let (elapsed, rest) = token(&line[len..]);
    let (client, rest) = token(rest);
    let (result, rest) = token(rest);
    let (bytes, rest) = token(rest);
    let (method, rest) = token(rest);
    let (url, _) = token(rest);
    let (cache, status) = result.split_once('/')?;
    let status: u16 = status.parse().ok()?;
    if !is_number(elapsed)
        || !is_number(bytes)
        || !cache.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level::http_status(status)),
        message: line.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[
            ("duration_ms", Some(elapsed)),
            ("client_ip", Some(client)),
            ("cache_result", Some(cache)),
            ("status", Some(&status.to_string())),
            ("bytes", Some(bytes)),
            ("method", Some(method)),
            ("path", Some(url)),
        ],
    );
    Some(parsed)
}

fn apache_error(line: &str, cx: Context) -> Option<Parsed> {
    let (stamp, mut rest) = bracketed(line)?;
    let (timestamp, _) = time::ctime(stamp, cx)?;
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        ..Parsed::default()
    };
    // At most the level, the pid and the client: each `[…]` group once.
    for _ in 0..3 {
        let Some((group, after)) = bracketed(rest.trim_start()) else {
            break;
        };
        if let Some(pid) = group.strip_prefix("pid ") {
            let (pid, thread) = pid
                .split_once(":tid ")
                .map_or((pid, None), |(p, t)| (p, Some(t)));
            put(&mut parsed, &[("pid", Some(pid)), ("tid", thread)]);
        } else if let Some(client) = group
            .strip_prefix("client ")
            .or_else(|| group.strip_prefix("remote "))
        {
            put(&mut parsed, &[("client", Some(client))]);
        } else if parsed.level.is_none() {
            let (module, name) = group
                .rsplit_once(':')
                .map_or((None, group), |(m, l)| (Some(m), l));
            parsed.level = Some(level::name(name)?);
            put(&mut parsed, &[("module", module)]);
        } else {
            break;
        }
        rest = after;
    }
    parsed.message = rest.trim_start().to_string();
    Some(parsed)
}

fn nginx_error(line: &str, cx: Context) -> Option<Parsed> {
    if line.as_bytes().get(4) != Some(&b'/') {
        return None;
    }
    let (timestamp, len) = time::iso(line, cx)?;
    let (group, rest) = bracketed(line[len..].trim_start())?;
    let level = level::name(group)?;
    let (ids, message) = token(rest);
    let (pid, thread) = ids.strip_suffix(':')?.split_once('#')?;
    if !is_number(pid) || !is_number(thread) {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.to_string(),
        ..Parsed::default()
    };
    let connection = message.strip_prefix('*').map(|m| token(m).0);
    let field = |name: &str| {
        let start = message.find(name)? + name.len();
        let value = &message[start..];
        Some(value.split(',').next().unwrap_or(value))
    };
    put(
        &mut parsed,
        &[
            ("pid", Some(pid)),
            ("tid", Some(thread)),
            ("connection", connection),
            ("client", field(", client: ")),
            ("server", field(", server: ")),
        ],
    );
    Some(parsed)
}

/// What a PostgreSQL line says: its parsed record, and the severity when
/// it is the DETAIL, HINT, … of the message before it.
fn postgres_parts(line: &str, cx: Context) -> Option<(Parsed, Option<&str>)> {
    let (_, len) = time::iso(line, cx)?;
    let (zone, rest) = token(&line[len..]);
    let (timestamp, _) = time::iso(line, time::zone_named(zone, cx))?;
    let (pid, rest) = bracketed(rest)?;
    let (severity, message) = rest.trim_start().split_once(':')?;
    if !is_number(pid)
        || !zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-:".contains(&b))
    {
        return None;
    }
    const DETAILS: [&str; 6] = [
        "DETAIL",
        "HINT",
        "QUERY",
        "CONTEXT",
        "STATEMENT",
        "LOCATION",
    ];
    let detail = DETAILS.contains(&severity).then_some(severity);
    let level = match detail {
        Some(_) => Level::Info,
        None => postgres_level(severity)?,
    };
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.trim_start().to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("pid", Some(pid))]);
    parsed.open = true;
    Some((parsed, detail))
}

/// PostgreSQL's severities, in capitals: LOG and the usual names.
fn postgres_level(severity: &str) -> Option<Level> {
    match severity {
        "LOG" | "INFO" | "NOTICE" => Some(Level::Info),
        "PANIC" => Some(Level::Fatal),
        _ => level::word(severity),
    }
}

fn postgres(line: &str, cx: Context) -> Option<Parsed> {
    postgres_parts(line, cx).map(|(parsed, _)| parsed)
}

/// A DETAIL, HINT, STATEMENT … line of the same process joins the message.
fn postgres_follow(record: &mut LogRecord, line: &str, cx: Context) -> Option<bool> {
    let (parsed, Some(severity)) = postgres_parts(line.trim(), cx)? else {
        return None;
    };
    if record.attributes.get("pid") != parsed.attributes.get("pid") {
        return None;
    }
    let addition = format!("\n{severity}:  {}", parsed.message);
    if record.message.len() + addition.len() <= crate::MAX_MESSAGE_LEN {
        record.message.push_str(&addition);
    }
    Some(true)
}

fn mysql(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::iso(line, cx)?;
    let (thread, rest) = token(&line[len..]);
    let (severity, mut rest) = bracketed(rest)?;
    if !is_number(thread) {
        return None;
    }
    let level = match severity {
        "Note" | "System" => Level::Info,
        other => level::name(other)?,
    };
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        ..Parsed::default()
    };
    put(&mut parsed, &[("thread", Some(thread))]);
    // MySQL 8: `[MY-010068] [Server]`.
    if let Some((code, after)) = bracketed(rest.trim_start()).filter(|(c, _)| c.starts_with("MY-"))
    {
        put(&mut parsed, &[("error_code", Some(code))]);
        rest = after;
        if let Some((subsystem, after)) = bracketed(rest.trim_start()) {
            put(&mut parsed, &[("subsystem", Some(subsystem))]);
            rest = after;
        }
    }
    parsed.message = rest.trim_start().to_string();
    Some(parsed)
}
