//! The catalogue of log layouts: how the lines of common programs look
//! (web servers, JVM and Python logging, Go, Rust, Node, Android, syslog,
//! containers, databases, Windows, supercomputers), each read into a time, a
//! level, a message and attributes.
//!
//! Detection, as in lnav and hl: a line is tried against the layouts in
//! catalogue order, specific ones first and general ones (any JSON, any
//! timestamped text, the fallback that finds a time among a line's first
//! fields) last. The layout that read the previous line of the same input is
//! tried first of all, since an input rarely changes layout (unless it is a
//! general one: the specific layouts before it must have their chance). Each layout
//! names the kind of first byte its lines have, so most are skipped without
//! looking further; the readers are hand-written, look at a bounded number of
//! bytes before they refuse a line, and never backtrack, so reading a line
//! is linear in its length.

mod apps;
mod containers;
mod hpc;
mod jvm;
pub(crate) mod level;
mod platforms;
mod servers;
pub(crate) mod time;

use logstream_shared::{Level, LogRecord};

use crate::{Context, Parsed, json, logfmt, text};

/// What the first non-blank byte of a layout's lines is: a cheap test that
/// skips most layouts for a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Digit,
    Letter,
    /// `[`
    Bracket,
    /// `{`
    Brace,
    Any,
}

impl Start {
    fn admits(self, first: u8) -> bool {
        match self {
            Start::Digit => first.is_ascii_digit(),
            Start::Letter => first.is_ascii_alphabetic(),
            Start::Bracket => first == b'[',
            Start::Brace => first == b'{',
            Start::Any => true,
        }
    }
}

/// How the record of a layout whose lines come in parts takes the next line
/// (a CRI or Docker partial line, java.util.logging's second line): `Some`
/// when it took the line, with whether it may take another one.
type Follow = fn(&mut LogRecord, &str, Context) -> Option<bool>;

/// One layout of the catalogue.
pub struct Layout {
    /// Its `--format` name.
    pub name: &'static str,
    /// Other `--format` names for it.
    pub aliases: &'static [&'static str],
    /// What it is, for `lsctl formats`.
    pub title: &'static str,
    /// A line in it.
    pub example: &'static str,
    start: Start,
    read: fn(&str, Context) -> Option<Parsed>,
    follow: Option<Follow>,
    /// Too general to be tried first just because the previous line was
    /// read by it: a more specific layout may come before it.
    general: bool,
    /// Its lines carry another layout's line, read by [`inner`]; their
    /// trailing spaces belong to that line.
    wraps: bool,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Layout {
    fn eq(&self, other: &Layout) -> bool {
        self.name == other.name
    }
}

impl Eq for Layout {}

impl Layout {
    /// What the line says in this layout, if it is in it.
    pub(crate) fn read(&self, line: &str, cx: Context) -> Option<Parsed> {
        let line = line.trim_start();
        let line = if self.wraps { line } else { line.trim_end() };
        let first = *line.as_bytes().first()?;
        if !self.start.admits(first) {
            return None;
        }
        (self.read)(line, cx)
    }

    /// Whether the record this layout read still takes this line (see [`Follow`]).
    pub(crate) fn follow(&self, record: &mut LogRecord, line: &str, cx: Context) -> Option<bool> {
        self.follow?(record, line, cx)
    }

    /// Whether this name, or one of its aliases, is `name`.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The layout of this `--format` name or alias.
pub fn layout(name: &str) -> Option<&'static Layout> {
    CATALOGUE.iter().find(|layout| layout.is_named(name))
}

/// Every layout, in the order detection tries them.
pub fn catalogue() -> &'static [Layout] {
    CATALOGUE
}

/// Recognises each line's layout, remembering which read the previous line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Detector {
    last: Option<&'static Layout>,
}

impl Detector {
    /// What the line says, and the layout that read it; `None` for a line
    /// in no layout.
    pub(crate) fn read(&mut self, line: &str, cx: Context) -> Option<(Parsed, &'static Layout)> {
        if let Some(last) = self.last.filter(|l| !l.general)
            && let Some(parsed) = last.read(line, cx)
        {
            return Some((parsed, last));
        }
        let (parsed, layout) = detect(line, cx)?;
        self.last = Some(layout);
        Some((parsed, layout))
    }

    /// The layout that read the last line read, if any.
    pub(crate) fn last(&self) -> Option<&'static Layout> {
        self.last
    }

    /// Forgets the last layout: a new input begins.
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }
}

/// The first layout of the catalogue that reads the line.
fn detect(line: &str, cx: Context) -> Option<(Parsed, &'static Layout)> {
    CATALOGUE
        .iter()
        .find_map(|layout| Some((layout.read(line, cx)?, layout)))
}

/// The time and level that a message's text carries, as `lsctl send` reads
/// them (for the daemon's records that arrive without them): by the
/// layout that reads it, else a level word near its start as for a plain
/// line; `None` when it names neither.
pub fn recognise(
    message: &str,
    cx: Context,
) -> Option<(Option<chrono::DateTime<chrono::Utc>>, Option<Level>)> {
    let (time, level) = match detect(message, cx) {
        Some((parsed, _)) => (parsed.timestamp, parsed.level),
        None => (None, level::near_start(message)),
    };
    (time.is_some() || level.is_some()).then_some((time, level))
}

/// A line carried inside another (a container runtime's, Docker's JSON), read
/// by the layouts that do not wrap lines themselves; plain text otherwise.
pub(crate) fn inner(line: &str, cx: Context) -> Parsed {
    let unwrapped = CATALOGUE
        .iter()
        .filter(|layout| !layout.wraps)
        .find_map(|layout| layout.read(line, cx));
    match unwrapped {
        Some(parsed) => parsed,
        None => Parsed {
            level: level::near_start(line),
            message: line.to_string(),
            ..Parsed::default()
        },
    }
}

/// The layouts, specific ones first: detection takes the first that reads a line.
static CATALOGUE: &[Layout] = &[
    // Wrappers first: their lines carry another layout's.
    containers::DOCKER,
    containers::CRI,
    platforms::MONGODB,
    apps::BUNYAN,
    apps::PINO,
    Layout {
        name: "json",
        aliases: &["ndjson", "winston-json", "zap-json", "logrus-json", "ecs"],
        title: "JSON object lines (any logger: common field names)",
        example: r#"{"ts":"2026-11-27T12:00:01Z","level":"warn","msg":"disk full","service":"api"}"#,
        start: Start::Brace,
        read: |line, cx| json::parse(line, cx),
        follow: None,
        general: true,
        wraps: false,
    },
    Layout {
        name: "syslog",
        aliases: &["rfc3164", "rfc5424"],
        title: "syslog: RFC 5424, RFC 3164 (BSD), with or without <PRI>",
        example: "Nov 27 12:00:01 web-1 sshd[42]: Accepted publickey for ann",
        start: Start::Any,
        read: text::syslog_line,
        follow: None,
        general: false,
        wraps: false,
    },
    containers::KLOG,
    platforms::LOGCAT,
    platforms::LOGCAT_BRIEF,
    servers::ACCESS,
    servers::SQUID,
    servers::APACHE_ERROR,
    servers::NGINX_ERROR,
    apps::PHP,
    jvm::ELASTICSEARCH,
    jvm::KAFKA,
    servers::POSTGRES,
    servers::MYSQL,
    platforms::WINDOWS_CBS,
    apps::PYTHON,
    apps::PYTHON_BASIC,
    apps::TRACING,
    apps::ENV_LOGGER,
    apps::ZAP,
    // Before log4j, which would take `error:` for its level; .NET's
    // `info: Category[0]` before winston's `info: message`.
    apps::DOTNET,
    apps::WINSTON,
    apps::RUBY,
    platforms::OSLO,
    Layout {
        name: "log4j",
        aliases: &["logback", "log4j2", "hadoop", "zookeeper"],
        title: "log4j / logback: time, level, [thread], logger",
        example: "2026-11-27 12:00:01,123 ERROR [main] com.example.App - request failed",
        start: Start::Any,
        read: text::leveled_line,
        follow: None,
        general: false,
        wraps: false,
    },
    apps::GO,
    jvm::SPARK,
    jvm::HDFS,
    jvm::TOMCAT,
    jvm::JUL,
    platforms::REDIS,
    apps::SERILOG,
    apps::ELIXIR,
    apps::LOGRUS,
    hpc::BGL,
    hpc::THUNDERBIRD,
    Layout {
        name: "logfmt",
        aliases: &[],
        title: "logfmt key=value pairs (Heroku, Go's slog and logrus text)",
        example: r#"time=2026-11-27T12:00:01Z level=warn msg="disk full" user=42"#,
        start: Start::Letter,
        read: |line, cx| logfmt::parse(line, cx, false),
        follow: None,
        general: true,
        wraps: false,
    },
    Layout {
        name: "timestamped",
        aliases: &[],
        title: "any line that starts with an ISO date and time",
        example: "2026-11-27T12:00:01Z [billing] card declined, error 402",
        start: Start::Any,
        read: text::timestamped_line,
        follow: None,
        general: true,
        wraps: false,
    },
    Layout {
        name: "fallback",
        aliases: &["any"],
        title: "a date and time among the first fields (any usual order), or first epoch s/ms or a time of day; then a level",
        example: "app.log node-7 27.11.2026 12:00:01 [ERROR] disk full",
        start: Start::Any,
        read: fallback,
        follow: None,
        general: true,
        wraps: false,
    },
];

/// How many fields before a time the fallback skips (a file name, a node
/// name, an epoch number).
const LEADING_FIELDS: usize = 4;
/// How many fields after the time a level word may come.
const LEVEL_FIELDS: usize = 8;

/// A time in any usual form within the first fields of the line, then maybe
/// a level word; the skipped fields are kept as the attribute `prefix`.
fn fallback(line: &str, cx: Context) -> Option<Parsed> {
    let mut rest = line;
    for field in 0..=LEADING_FIELDS {
        if let Some((timestamp, len)) = time_at(rest, cx, field == 0) {
            let after = rest[len..].trim_start_matches([']', ',', '|']).trim_start();
            let mut parsed = after_time(after);
            parsed.timestamp = Some(timestamp);
            let prefix = line[..line.len() - rest.len()].trim();
            if !prefix.is_empty() {
                parsed
                    .attributes
                    .insert("prefix".into(), prefix.to_string());
            }
            return Some(parsed);
        }
        let (_, next) = text::token(rest);
        if next.is_empty() {
            return None;
        }
        rest = next;
    }
    None
}

/// A time at the start of `text`, perhaps in brackets; a time of day without
/// a date, or a number of epoch seconds or milliseconds, only at the start
/// of a line (further on they are too often something else: a duration, an
/// order number).
fn time_at(text: &str, cx: Context, line_start: bool) -> Option<time::Found> {
    let undated = |text: &str| time::time_of_day(text, cx).or_else(|| time::epoch(text, cx));
    let bare =
        |text: &str| time::any(text, cx).or_else(|| line_start.then(|| undated(text)).flatten());
    bare(text).or_else(|| bare(text.strip_prefix('[')?).map(|(t, n)| (t, n + 1)))
}

/// The level word among the first fields after a time (the message starts
/// after it when it comes first), else one near the message's start.
fn after_time(text: &str) -> Parsed {
    let mut rest = text;
    for index in 0..LEVEL_FIELDS {
        let (word, next) = text::token(rest);
        if word.is_empty() {
            break;
        }
        if let Some(found) = level::word(word) {
            let message = if index == 0 { next } else { text };
            return Parsed {
                level: Some(found),
                message: nonempty(message, text),
                ..Parsed::default()
            };
        }
        rest = next;
    }
    Parsed {
        level: level::near_start(text),
        message: text.to_string(),
        ..Parsed::default()
    }
}

/// `text`, or `otherwise` when it is blank.
pub(crate) fn nonempty(text: &str, otherwise: &str) -> String {
    if text.trim().is_empty() {
        otherwise.to_string()
    } else {
        text.to_string()
    }
}

/// Sets the attributes whose value is given and not `-` (the usual mark of
/// an empty field).
pub(crate) fn put(parsed: &mut Parsed, pairs: &[(&str, Option<&str>)]) {
    for (key, value) in pairs {
        if let Some(value) = value.filter(|v| !v.is_empty() && *v != "-") {
            parsed
                .attributes
                .insert((*key).to_string(), value.to_string());
        }
    }
}

/// `[text]` at the start: the text and what follows.
pub(crate) fn bracketed(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// A number made only of ASCII digits.
pub(crate) fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
