//! Programming languages' logging libraries: Python, Go (log, zap, logrus),
//! Rust (tracing, env_logger), Node (pino, bunyan, winston), Ruby, .NET
//! (Microsoft.Extensions.Logging, Serilog), Elixir, PHP.

use logstream_shared::record::{attribute_text, value_of};
use logstream_shared::{Level, LogRecord};

use super::level::{self, word as level_word};
use super::{Layout, Start, bracketed, nonempty, put, time};
use crate::text::{is_logger, token};
use crate::{Context, Parsed, json, logfmt};

pub(super) const BUNYAN: Layout = Layout {
    name: "bunyan",
    aliases: &[],
    title: "bunyan JSON (Node): name is the service, levels 10…60",
    example: r#"{"name":"api","hostname":"web-1","pid":42,"level":50,"msg":"db down","time":"2026-11-27T12:00:01.123Z","v":0}"#,
    start: Start::Brace,
    read: bunyan,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const PINO: Layout = Layout {
    name: "pino",
    aliases: &[],
    title: "pino JSON (Node): levels 10…60, time in epoch ms",
    example: r#"{"level":40,"time":1795780801123,"pid":42,"hostname":"web-1","msg":"slow request"}"#,
    start: Start::Brace,
    read: pino,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const PYTHON: Layout = Layout {
    name: "python",
    aliases: &["python-logging"],
    title: "Python logging: %(asctime)s - %(name)s - %(levelname)s - %(message)s",
    example: "2026-11-27 12:00:01,123 - app.db - WARNING - connection pool exhausted",
    start: Start::Digit,
    read: python,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const PYTHON_BASIC: Layout = Layout {
    name: "python-basic",
    aliases: &[],
    title: "Python logging.basicConfig's default: LEVEL:logger:message",
    example: "WARNING:app.db:connection pool exhausted",
    start: Start::Letter,
    read: python_basic,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const TRACING: Layout = Layout {
    name: "tracing",
    aliases: &["rust-tracing", "tracing-subscriber"],
    title: "Rust tracing-subscriber fmt: time, level, spans, target",
    example: "2026-11-27T12:00:01.123456Z  INFO request{id=7}: my_app::api: handled in 3ms",
    start: Start::Digit,
    read: tracing,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const ENV_LOGGER: Layout = Layout {
    name: "env-logger",
    aliases: &["env_logger", "rust-log"],
    title: "Rust env_logger: [time LEVEL target] message",
    example: "[2026-11-27T12:00:01Z WARN  my_app::db] retrying in 2s",
    start: Start::Bracket,
    read: env_logger,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const ZAP: Layout = Layout {
    name: "zap",
    aliases: &["zap-console"],
    title: "Go zap console encoder: tab-separated time, level, logger, caller, message, JSON",
    example: "2026-11-27T12:00:01.123Z\tERROR\tserver/main.go:42\tlisten failed\t{\"port\": 8080}",
    start: Start::Digit,
    read: zap,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const GO: Layout = Layout {
    name: "go",
    aliases: &["go-log", "golang"],
    title: "Go's standard log: yyyy/MM/dd HH:mm:ss[.µs] [file.go:N:] message",
    example: "2026/11/27 12:00:01 main.go:42: listening on :8080",
    start: Start::Digit,
    read: go,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const LOGRUS: Layout = Layout {
    name: "logrus",
    aliases: &["logrus-text"],
    title: "Go logrus text on a terminal: LEVL[seconds] message key=value",
    example: "WARN[0042] disk almost full                             free=2% mount=/data",
    start: Start::Letter,
    read: logrus,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const WINSTON: Layout = Layout {
    name: "winston",
    aliases: &["npm-levels"],
    title: "Node winston simple format: [time] level: message {meta}",
    example: r#"2026-11-27T12:00:01.123Z error: payment failed {"orderId":42}"#,
    start: Start::Any,
    read: winston,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const RUBY: Layout = Layout {
    name: "ruby",
    aliases: &["ruby-logger", "rails"],
    title: "Ruby Logger: L, [time #pid] LEVEL -- progname: message",
    example: "E, [2026-11-27T12:00:01.123456 #4242] ERROR -- web: Timeout::Error",
    start: Start::Letter,
    read: ruby,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const SERILOG: Layout = Layout {
    name: "serilog",
    aliases: &[],
    title: "Serilog console (.NET): [HH:mm:ss LVL] message, today",
    example: "[12:00:01 WRN] Disk space low on C:",
    start: Start::Bracket,
    read: serilog,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const DOTNET: Layout = Layout {
    name: "dotnet",
    aliases: &["aspnetcore", "microsoft-logging"],
    title: ".NET console logger: level: Category[event], message on the next line",
    example: "fail: Microsoft.AspNetCore.Server.Kestrel[13]\n      Connection id \"0HM\" failed",
    start: Start::Letter,
    read: dotnet,
    follow: Some(dotnet_follow),
    general: false,
    wraps: false,
};

pub(super) const ELIXIR: Layout = Layout {
    name: "elixir",
    aliases: &["erlang", "phoenix"],
    title: "Elixir Logger console: HH:mm:ss.SSS [level] message, today",
    example: "12:00:01.123 [error] GenServer MyApp.Worker terminating",
    start: Start::Digit,
    read: elixir,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const PHP: Layout = Layout {
    name: "php",
    aliases: &["php-fpm"],
    title: "PHP error log and PHP-FPM: [dd-Mon-yyyy HH:mm:ss zone] PHP Warning: …",
    example: "[27-Nov-2026 12:00:01 UTC] PHP Warning:  Undefined variable $user in /var/www/index.php on line 7",
    start: Start::Bracket,
    read: php,
    follow: None,
    general: false,
    wraps: false,
};

fn bunyan(line: &str, cx: Context) -> Option<Parsed> {
    if !line.contains("\"v\":0") {
        return None;
    }
    let mut object = json::object(line)?;
    let name = value_of(&object.remove("name")?);
    object.remove("v");
    let mut parsed = json::from_object(object, line, cx);
    parsed.service = parsed.service.or_else(|| name.as_str().map(str::to_string));
    Some(parsed)
}

fn pino(line: &str, cx: Context) -> Option<Parsed> {
    // Cheaply first: other JSON lines are parsed by the next layout.
    let numeric_level = line
        .split_once("\"level\":")
        .is_some_and(|(_, rest)| rest.trim_start().starts_with(|c: char| c.is_ascii_digit()));
    if !numeric_level {
        return None;
    }
    let object = json::object(line)?;
    let numeric = |key: &str| object.get(key).is_some_and(|raw| value_of(raw).is_u64());
    if !(numeric("level") && numeric("time")) {
        return None;
    }
    Some(json::from_object(object, line, cx))
}

fn python(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::iso(line, cx)?;
    let mut fields = line[len..].strip_prefix(" - ")?.splitn(3, " - ");
    let (name, word, message) = (fields.next()?, fields.next()?, fields.next()?);
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level_word(word)?),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("logger", Some(name))]);
    Some(parsed)
}

fn python_basic(line: &str, _cx: Context) -> Option<Parsed> {
    // The level is a short word: look no further for its colon.
    let colon = line.bytes().take(9).position(|b| b == b':')?;
    let (word, rest) = (&line[..colon], &line[colon + 1..]);
    let (name, message) = rest.split_once(':')?;
    if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&word) || !is_logger(name) {
        return None;
    }
    let mut parsed = Parsed {
        level: level::name(word),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("logger", Some(name))]);
    Some(parsed)
}

/// A Rust path, `my_app::api`.
fn is_target(word: &str) -> bool {
    !word.is_empty()
        && word.split("::").all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

fn tracing(line: &str, cx: Context) -> Option<Parsed> {
    if line.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let (timestamp, len) = time::iso(line, cx)?;
    let (word, mut rest) = token(&line[len..]);
    if !matches!(word, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR") {
        return None;
    }
    // Spans, `name{fields}:`, then the target, `crate::module:`.
    let mut spans = Vec::new();
    let target = loop {
        let (next, after) = token(rest);
        let name = next.strip_suffix(':')?;
        if name.contains('{') {
            spans.push(name);
            rest = after;
        } else if is_target(name) {
            rest = after;
            break name;
        } else {
            return None;
        }
    };
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: level::name(word),
        message: rest.to_string(),
        ..Parsed::default()
    };
    let spans = spans.join(":");
    put(
        &mut parsed,
        &[("target", Some(target)), ("spans", Some(&spans))],
    );
    Some(parsed)
}

fn env_logger(line: &str, cx: Context) -> Option<Parsed> {
    let (header, message) = bracketed(line)?;
    let (timestamp, len) = time::iso(header, cx)?;
    let (word, rest) = token(&header[len..]);
    let (target, rest) = token(rest);
    if !rest.is_empty() || !is_target(target) {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level_word(word)?),
        message: message.trim_start().to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("target", Some(target))]);
    Some(parsed)
}

fn zap(line: &str, cx: Context) -> Option<Parsed> {
    let mut fields = line.split('\t');
    let (timestamp, _) = time::iso(fields.next()?, cx)?;
    let level = level::name(fields.next()?)?;
    let rest: Vec<&str> = fields.collect();
    let (context, mut message) = rest.split_at(rest.len().checked_sub(1)?);
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        ..Parsed::default()
    };
    // The last field is the context as JSON, when it reads as such.
    let mut named = context;
    if let Some(last) = message.first()
        && last.starts_with('{')
        && let Some(object) = json::object(last)
        && let Some((text, before)) = context.split_last()
    {
        parsed.attributes = object
            .into_iter()
            .map(|(k, v)| (k, attribute_text(&v)))
            .collect();
        message = std::slice::from_ref(text);
        named = before;
    }
    parsed.message = message.first()?.to_string();
    let caller = named.iter().find(|f| f.contains(".go:"));
    let logger = named.iter().find(|f| !f.contains(".go:"));
    put(
        &mut parsed,
        &[("caller", caller.copied()), ("logger", logger.copied())],
    );
    Some(parsed)
}

fn go(line: &str, cx: Context) -> Option<Parsed> {
    let b = line.as_bytes();
    if b.get(4) != Some(&b'/') || b.get(7) != Some(&b'/') {
        return None;
    }
    let (timestamp, len) = time::iso(line, cx)?;
    let rest = line[len..].strip_prefix(' ')?;
    // With Lshortfile or Llongfile: `main.go:42: `.
    let (first, after) = token(rest);
    let source = first.strip_suffix(':').filter(|f| f.contains(".go:"));
    let message = if source.is_some() { after } else { rest };
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: level::near_start(message),
        message: nonempty(message, line),
        ..Parsed::default()
    };
    put(&mut parsed, &[("source", source)]);
    Some(parsed)
}

fn logrus(line: &str, cx: Context) -> Option<Parsed> {
    let (word, rest) = line.split_once('[')?;
    let level = match word {
        "TRAC" => Level::Trace,
        "DEBU" => Level::Debug,
        "INFO" => Level::Info,
        "WARN" => Level::Warn,
        "ERRO" => Level::Error,
        "FATA" | "PANI" => Level::Fatal,
        _ => return None,
    };
    let (elapsed, rest) = rest.split_once("] ")?;
    if !super::is_number(elapsed) {
        return None;
    }
    let mut parsed = Parsed {
        level: Some(level),
        message: rest.trim().to_string(),
        ..Parsed::default()
    };
    // The fields follow the message after a run of spaces.
    if let Some((message, pairs)) = rest.trim_end().rsplit_once("  ")
        && let Some(fields) = logfmt::parse(pairs.trim_start(), cx, true)
    {
        parsed.message = message.trim().to_string();
        parsed.attributes = fields.attributes;
        parsed.message = nonempty(&parsed.message, rest);
    }
    Some(parsed)
}

fn winston(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, rest) = match time::iso(line, cx) {
        Some((t, len)) => (Some(t), line[len..].trim_start()),
        None => (None, line),
    };
    let (word, message) = token(rest);
    let level = match word.strip_suffix(':')? {
        word @ ("error" | "warn" | "info" | "debug") => level::name(word)?,
        "http" | "verbose" => Level::Debug,
        "silly" => Level::Trace,
        _ => return None,
    };
    let mut parsed = Parsed {
        timestamp,
        level: Some(level),
        message: message.to_string(),
        ..Parsed::default()
    };
    if let Some((text, meta)) = message.rsplit_once(" {")
        && let Some(object) = json::object(&format!("{{{meta}"))
    {
        parsed.message = text.to_string();
        parsed.attributes = object
            .into_iter()
            .map(|(k, v)| (k, attribute_text(&v)))
            .collect();
    }
    Some(parsed)
}

fn ruby(line: &str, cx: Context) -> Option<Parsed> {
    let rest = line.get(1..)?.strip_prefix(", ")?;
    let (header, rest) = bracketed(rest)?;
    let (stamp, pid) = header.split_once(" #")?;
    let (timestamp, _) = time::iso(stamp, cx)?;
    let (word, rest) = token(rest);
    let (program, message) = rest.strip_prefix("-- ")?.split_once(": ")?;
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: match word {
            "ANY" | "UNKNOWN" => Some(Level::Fatal),
            other => Some(level_word(other)?),
        },
        message: message.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[("pid", Some(pid)), ("progname", Some(program))],
    );
    Some(parsed)
}

fn serilog(line: &str, cx: Context) -> Option<Parsed> {
    let (header, message) = bracketed(line)?;
    let (timestamp, len) = time::time_of_day(header, cx).or_else(|| time::iso(header, cx))?;
    let word = header[len..].trim();
    let level = level_word(word)?;
    Some(Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.trim_start().to_string(),
        ..Parsed::default()
    })
}

/// The header line, `fail: Category[13]`: the message is on the next line.
fn dotnet(line: &str, _cx: Context) -> Option<Parsed> {
    let (word, category) = token(line);
    let level = match word.strip_suffix(':')? {
        "trce" => Level::Trace,
        "dbug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "fail" => Level::Error,
        "crit" => Level::Fatal,
        _ => return None,
    };
    let (name, event) = category.strip_suffix(']')?.rsplit_once('[')?;
    if !is_logger(name) || !super::is_number(event) {
        return None;
    }
    let mut parsed = Parsed {
        level: Some(level),
        message: line.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[("category", Some(name)), ("event_id", Some(event))],
    );
    parsed.open = true;
    Some(parsed)
}

/// The indented message line after the header replaces it.
fn dotnet_follow(record: &mut LogRecord, line: &str, _cx: Context) -> Option<bool> {
    let message = line.strip_prefix("      ")?;
    record.message = nonempty(message, line);
    Some(false)
}

fn elixir(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::time_of_day(line, cx)?;
    let rest = line[len..].trim_start();
    // Metadata (`request_id=F1x `) may come before the level.
    let at = rest.find(" [").map_or(0, |i| i + 1);
    let (word, message) = bracketed(&rest[at..])?;
    let level = level_word(word)?;
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.trim_start().to_string(),
        ..Parsed::default()
    };
    if at > 0
        && let Some(pairs) = logfmt::parse(&rest[..at], cx, true)
    {
        parsed.attributes = pairs.attributes;
    }
    Some(parsed)
}

fn php(line: &str, cx: Context) -> Option<Parsed> {
    let (header, rest) = bracketed(line)?;
    let (_, len) = time::day_month_name(header, cx)?;
    let zone = header[len..].trim();
    let rest = rest.trim_start();
    let (level, message) = match rest.strip_prefix("PHP ") {
        Some(after) => {
            let (kind, message) = after.split_once(':')?;
            (php_level(kind)?, message.trim_start())
        }
        // PHP-FPM's own lines: `NOTICE: fpm is running`.
        None => {
            let (word, message) = rest.split_once(": ")?;
            (level_word(word)?, message)
        }
    };
    let (timestamp, _) = time::day_month_name(header, time::zone_named(zone, cx))?;
    Some(Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.to_string(),
        ..Parsed::default()
    })
}

/// `Fatal error`, `Parse error`, `Warning`, `Notice`, `Deprecated`.
fn php_level(kind: &str) -> Option<Level> {
    Some(match kind {
        "Fatal error" | "Parse error" | "Catchable fatal error" => Level::Error,
        "Warning" | "Deprecated" | "Strict Standards" => Level::Warn,
        "Notice" => Level::Info,
        _ => return None,
    })
}
