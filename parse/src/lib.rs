//! LogStream's line parsers: from input lines to log records. Each line's
//! layout is recognised among a catalogue of common programs' layouts (see
//! [`catalogue`]: web servers, JVM and Python logging, Go, Rust, Node,
//! Android, syslog RFC 3164 and 5424, containers, databases, JSON, logfmt,
//! and a fallback that finds a time among a line's first fields), else it
//! is plain text; and the lines of one multi-line record (a stack trace,
//! indented continuation lines, a container runtime's partial lines) are
//! joined into one record.
//!
//! A crate of its own because two programs read the same formats: `lsctl send`
//! parses the lines it reads from files and pipes, and the daemon parses the
//! frames its syslog listeners receive. One parser means a line gets the same
//! level, time, service and attributes whichever way it arrives.
//!
//! The sender feeds an [`Assembler`] line by line, from any reader:
//!
//! ```text
//! let mut assembler = Assembler::new(settings);
//! for line in lines { send(assembler.push(line)) }   // records this line completed
//! // no line for IDLE_FLUSH: send(assembler.flush_idle())
//! send(assembler.finish())                           // end of an input
//! ```
//!
//! The daemon's syslog listeners call [`syslog`] on each frame instead: the
//! same reading of RFC 5424 and RFC 3164, with the facility and severity;
//! and its ingest front calls [`recognise`] on the messages of records that
//! came without a level or time.
//!
//! Precedence: the `--service` and `--host` flags, when given, win over what
//! a line names (the line's own value, when different, is kept as the
//! attribute `service` or `host`); without them a line's own service and host
//! are used, else the service [`FALLBACK_SERVICE`] and no host. `--attr`
//! attributes win over a line's attributes of the same name.

mod json;
mod layouts;
mod logfmt;
mod multiline;
mod text;

pub use layouts::{Layout, catalogue, layout, recognise};
pub use text::{Syslog, facility_name, severity_level, syslog};

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, Local, NaiveDateTime, Offset, TimeZone, Utc};
use logstream_shared::record::{
    MAX_ATTRIBUTE_KEY_LEN, MAX_ATTRIBUTE_VALUE_LEN, MAX_ATTRIBUTES, MAX_MESSAGE_LEN,
};
use logstream_shared::{Level, LogRecord, validate};

/// The service of records whose line names none, when `--service` is not given.
pub const FALLBACK_SERVICE: &str = "unknown";

/// How long a record that further lines could continue waits for them while
/// the input is quiet, before the sender should call [`Assembler::flush_idle`].
pub const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// How lines are read (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Recognise each line's layout among the [`catalogue`]'s.
    #[default]
    Auto,
    /// JSON objects; other lines are sent as plain messages.
    Json,
    /// key=value pairs; other lines are sent as plain messages.
    Logfmt,
    /// Syslog and timestamped text layouts (log4j, Python, RFC 3339 …); JSON is not parsed.
    Text,
    /// Each line as it is, one record per line: no parsing, no joining.
    Raw,
    /// One layout of the [`catalogue`]; other lines are sent as plain messages.
    Layout(&'static Layout),
}

impl Format {
    /// The modes that are not a single layout, with what they do.
    const MODES: [(Format, &'static str, &'static str); 5] = [
        (Format::Auto, "auto", "recognise each line's layout"),
        (
            Format::Json,
            "json",
            "JSON objects; other lines as plain messages",
        ),
        (
            Format::Logfmt,
            "logfmt",
            "key=value pairs; other lines as plain messages",
        ),
        (
            Format::Text,
            "text",
            "syslog and timestamped text (log4j, Python, RFC 3339 …)",
        ),
        (
            Format::Raw,
            "raw",
            "each line as it is: no parsing, no joining",
        ),
    ];

    /// Its `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Layout(layout) => layout.name,
            mode => Format::MODES
                .iter()
                .find(|(m, _, _)| *m == mode)
                .map_or("auto", |(_, name, _)| name),
        }
    }

    /// Every `--format` value: the modes, then the catalogue's layouts (but
    /// those a mode already names, JSON's and logfmt's).
    pub fn all() -> impl Iterator<Item = Format> {
        let modes = Format::MODES.iter().map(|(mode, _, _)| *mode);
        let named = |l: &Layout| Format::MODES.iter().any(|(_, name, _)| l.is_named(name));
        modes.chain(
            catalogue()
                .iter()
                .filter(move |l| !named(l))
                .map(Format::Layout),
        )
    }

    /// What it does, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            Format::Layout(layout) => layout.title,
            mode => Format::MODES
                .iter()
                .find(|(m, _, _)| *m == mode)
                .map_or("", |(_, _, about)| about),
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Format, String> {
        let name = name.trim();
        Format::all()
            .find(|f| match f {
                Format::Layout(layout) => layout.is_named(name),
                mode => mode.name().eq_ignore_ascii_case(name),
            })
            .ok_or_else(|| format!("no format \"{name}\"; `lsctl formats` lists them"))
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Format] {
        static ALL: std::sync::LazyLock<Vec<Format>> =
            std::sync::LazyLock::new(|| Format::all().collect());
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let value = clap::builder::PossibleValue::new(self.name()).help(self.description());
        Some(match self {
            Format::Layout(layout) => value.aliases(layout.aliases.iter().copied()),
            _ => value,
        })
    }
}

/// The time zone of timestamps that carry none (`--timezone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The local time zone (the TZ environment variable, else the system's).
    #[default]
    Local,
    Fixed(FixedOffset),
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(text: &str) -> Result<Zone, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if ["utc", "z", "gmt"]
            .iter()
            .any(|z| text.eq_ignore_ascii_case(z))
        {
            return Ok(Zone::Fixed(Utc.fix()));
        }
        text::parse_offset(text)
            .filter(|(_, len)| *len == text.len())
            .map(|(offset, _)| Zone::Fixed(offset))
            .ok_or_else(|| {
                format!(
                    "\"{text}\" is not a time zone; expected local, UTC or an offset such as \
                     +02:00 (for a named zone, set TZ, e.g. TZ=Europe/Berlin, and use local)"
                )
            })
    }
}

impl Zone {
    /// The instant a wall-clock time in this zone stands for (the earlier one
    /// when a clock change makes it ambiguous).
    fn resolve(self, naive: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Fixed(offset) => offset.from_utc_datetime(&(naive - offset)).to_utc(),
            Zone::Local => match Local.from_local_datetime(&naive).earliest() {
                Some(t) => t.to_utc(),
                // In a gap (clocks moved forward): the offset from before it.
                None => {
                    let offset = Local.offset_from_utc_datetime(&naive).fix();
                    (naive - offset).and_utc()
                }
            },
        }
    }

    /// The current year in this zone.
    fn year(self, now: DateTime<Utc>) -> i32 {
        match self {
            Zone::Fixed(offset) => now.with_timezone(&offset).year(),
            Zone::Local => now.with_timezone(&Local).year(),
        }
    }
}

/// What every record of a run is given, and how lines are read.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub format: Format,
    /// `--service`: wins over the service a line names.
    pub service: Option<String>,
    /// `--host`: wins over the host a line names.
    pub host: Option<String>,
    /// `--attr`: win over a line's attributes of the same name.
    pub attributes: BTreeMap<String, String>,
    pub timezone: Zone,
}

impl Settings {
    /// The problem, if any, with the flags' values, named by flag: every
    /// record must pass the daemon's checks.
    pub fn check(&self) -> Result<(), String> {
        if self.attributes.len() >= MAX_ATTRIBUTES {
            return Err(format!(
                "--attr: at most {} attributes may be given",
                MAX_ATTRIBUTES - 1
            ));
        }
        let probe = LogRecord {
            id: "probe".into(),
            timestamp: Utc::now(),
            service: self
                .service
                .clone()
                .unwrap_or_else(|| FALLBACK_SERVICE.into()),
            level: Level::Info,
            message: "probe".into(),
            host: self.host.clone(),
            trace_id: None,
            span_id: None,
            attributes: self.attributes.clone(),
        };
        match validate(&probe).into_iter().next() {
            None => Ok(()),
            Some(problem) => {
                let flag = match problem.field.as_str() {
                    "service" => "--service",
                    "host" => "--host",
                    _ => "--attr",
                };
                Err(format!("{flag}: {}", problem.message))
            }
        }
    }
}

/// An `--attr` value: `KEY=VALUE`.
pub fn attribute_flag(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "\"{text}\" is not KEY=VALUE (for example env=prod)"
        ));
    };
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY_LEN {
        return Err(format!(
            "the key must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes long"
        ));
    }
    if value.len() > MAX_ATTRIBUTE_VALUE_LEN {
        return Err(format!(
            "the value is {} bytes; at most {MAX_ATTRIBUTE_VALUE_LEN} are accepted",
            value.len()
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// What a parser found in one line; the [`Assembler`] (or the daemon, for a
/// syslog frame) makes a record of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Whether the layout's next line may still add to this record (see
    /// `Layout::follow`).
    pub(crate) open: bool,
    pub timestamp: Option<DateTime<Utc>>,
    pub level: Option<Level>,
    pub message: String,
    pub service: Option<String>,
    pub host: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// What parsers need besides the line.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub zone: Zone,
    /// When the line was read: decides the year of syslog's year-less times.
    pub now: DateTime<Utc>,
}

/// What one line says, by the format chosen, and the layout that read it;
/// `None` for a plain line.
pub(crate) fn parse_line(
    line: &str,
    format: Format,
    detector: &mut layouts::Detector,
    cx: Context,
) -> Option<(Parsed, Option<&'static Layout>)> {
    let without_layout = |parsed: Option<Parsed>| parsed.map(|p| (p, None));
    match format {
        Format::Raw => None,
        Format::Json => without_layout(
            line.trim_start()
                .starts_with('{')
                .then(|| json::parse(line, cx))
                .flatten(),
        ),
        Format::Logfmt => without_layout(logfmt::parse(line, cx, true)),
        Format::Text => without_layout(text::parse(line, cx)),
        Format::Layout(layout) => layout.read(line, cx).map(|p| (p, Some(layout))),
        Format::Auto => detector.read(line, cx).map(|(p, layout)| (p, Some(layout))),
    }
}

/// A record that the next lines may still continue.
#[derive(Debug)]
struct Pending {
    record: LogRecord,
    /// Inside a Python traceback: its final `SomeError: …` line belongs to it.
    in_traceback: bool,
    /// Blank lines seen since its last line: kept only if it goes on.
    blank_lines: usize,
    /// The layout whose next line may still add to it (a partial line's).
    open: Option<&'static Layout>,
}

/// Turns lines into records, joining multi-line records (see the module
/// docs). Blank lines are never records.
#[derive(Debug)]
pub struct Assembler {
    settings: Settings,
    pending: Option<Pending>,
    detector: layouts::Detector,
}

impl Assembler {
    /// `settings` should have passed [`Settings::check`]; a record that would
    /// still fail the daemon's checks is sent as plain text.
    pub fn new(settings: Settings) -> Assembler {
        Assembler {
            settings,
            pending: None,
            detector: layouts::Detector::default(),
        }
    }

    /// The records this line completes (usually none or one): the line is
    /// held as long as the next ones may continue it.
    pub fn push(&mut self, line: &str) -> Vec<LogRecord> {
        self.push_at(line, Utc::now())
    }

    /// [`push`](Self::push), with `now` as the time the line was read (the
    /// timestamp of records whose line has none).
    pub fn push_at(&mut self, line: &str, now: DateTime<Utc>) -> Vec<LogRecord> {
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            if let Some(pending) = &mut self.pending {
                pending.blank_lines += 1;
            }
            return Vec::new();
        }
        if self.settings.format == Format::Raw {
            return vec![self.plain(line, now)];
        }
        let cx = self.context(now);
        if let Some(pending) = &mut self.pending
            && let Some(layout) = pending.open
        {
            match layout.follow(&mut pending.record, line, cx) {
                Some(still_open) => {
                    pending.open = still_open.then_some(layout);
                    truncate_message(&mut pending.record);
                    return Vec::new();
                }
                None => pending.open = None,
            }
        }
        if let Some(pending) = &mut self.pending
            && multiline::continues(line, pending.in_traceback)
        {
            let separator = "\n".repeat(pending.blank_lines + 1);
            pending.blank_lines = 0;
            pending.in_traceback = multiline::in_traceback_after(line, pending.in_traceback);
            let message = &mut pending.record.message;
            if message.len() + separator.len() + line.len() <= MAX_MESSAGE_LEN {
                message.push_str(&separator);
                message.push_str(line);
                return Vec::new();
            }
            // Too long for one record: the rest goes on in another, with the
            // same time, level, service and attributes.
            let mut next = pending.record.clone();
            next.id = uuid::Uuid::now_v7().to_string();
            next.message = line.to_string();
            next.attributes.remove(TRUNCATED);
            truncate_message(&mut next);
            let in_traceback = pending.in_traceback;
            let done = self.pending.replace(Pending {
                record: next,
                in_traceback,
                blank_lines: 0,
                open: None,
            });
            return done.into_iter().map(|p| p.record).collect();
        }
        let (record, open) = self.record(line, now);
        let done = self.pending.replace(Pending {
            record,
            in_traceback: multiline::in_traceback_after(line, false),
            blank_lines: 0,
            open,
        });
        done.into_iter().map(|p| p.record).collect()
    }

    /// The record still held, if any: call this when the input has been
    /// quiet for [`IDLE_FLUSH`], since no line may be coming to complete it.
    pub fn flush_idle(&mut self) -> Vec<LogRecord> {
        self.pending.take().into_iter().map(|p| p.record).collect()
    }

    /// The record still held, if any: call this at the end of each input
    /// (lines of different inputs are never joined, and the next input's
    /// layout is recognised afresh).
    pub fn finish(&mut self) -> Vec<LogRecord> {
        self.detector.reset();
        self.flush_idle()
    }

    /// The layout that read the latest line of this input: the one forced
    /// with `--format`, or the one recognised (`None` before any, or for
    /// the modes that are not a layout).
    pub fn layout(&self) -> Option<&'static Layout> {
        match self.settings.format {
            Format::Layout(layout) => Some(layout),
            Format::Auto => self.detector.last(),
            _ => None,
        }
    }

    /// How lines are read (`--format`).
    pub fn format(&self) -> Format {
        self.settings.format
    }

    fn context(&self, now: DateTime<Utc>) -> Context {
        Context {
            zone: self.settings.timezone,
            now,
        }
    }

    /// Whether a record is held, waiting for lines that may continue it.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The record for one line: parsed, else (or when the daemon would
    /// refuse what was parsed) plain; with the layout that may add the next
    /// line to it.
    fn record(&mut self, line: &str, now: DateTime<Utc>) -> (LogRecord, Option<&'static Layout>) {
        let cx = self.context(now);
        let format = self.settings.format;
        match parse_line(line, format, &mut self.detector, cx) {
            Some((parsed, layout)) => {
                let open = layout.filter(|_| parsed.open);
                match self.parsed_record(parsed, now) {
                    Some(record) => (record, open),
                    None => (self.plain(line, now), None),
                }
            }
            None => (self.plain(line, now), None),
        }
    }

    /// The record of what a line says; `None` if the daemon would refuse it.
    fn parsed_record(&self, parsed: Parsed, now: DateTime<Utc>) -> Option<LogRecord> {
        let mut record = self.base(now);
        if let Some(timestamp) = parsed.timestamp {
            record.timestamp = timestamp;
        }
        record.level = parsed.level.unwrap_or(Level::Info);
        record.message = parsed.message;
        record.trace_id = parsed.trace_id;
        record.span_id = parsed.span_id;
        let mut attributes = parsed.attributes;
        for (name, flag, found, field) in [
            (
                "service",
                &self.settings.service,
                parsed.service,
                &mut record.service,
            ),
            (
                "host",
                &self.settings.host,
                parsed.host,
                record.host.get_or_insert_default(),
            ),
        ] {
            match (flag, found) {
                (Some(flag), Some(found)) if *flag != found => {
                    attributes.entry(name.to_string()).or_insert(found);
                }
                (None, Some(found)) => *field = found,
                _ => {}
            }
        }
        record.host = record.host.filter(|h| !h.is_empty());
        // Without the flag and a usable value in the line, keep the value
        // as an attribute and the default in the record.
        let refused = validate(&record);
        let refuses = |field: &str| refused.iter().any(|e| e.field == field);
        if refuses("service") {
            let service = std::mem::replace(&mut record.service, self.default_service());
            attributes.entry("service".into()).or_insert(service);
        }
        if refuses("host")
            && let Some(host) = std::mem::replace(&mut record.host, self.settings.host.clone())
        {
            attributes.entry("host".into()).or_insert(host);
        }
        for tag in [&mut record.trace_id, &mut record.span_id] {
            if tag.as_ref().is_some_and(|t| t.is_empty()) {
                *tag = None;
            }
        }
        attributes.extend(std::mem::take(&mut record.attributes));
        record.attributes = attributes;
        truncate_message(&mut record);
        validate(&record).is_empty().then_some(record)
    }

    /// `--service`, else [`FALLBACK_SERVICE`].
    fn default_service(&self) -> String {
        self.settings
            .service
            .clone()
            .unwrap_or_else(|| FALLBACK_SERVICE.into())
    }

    /// A record with this run's defaults and no message yet.
    fn base(&self, now: DateTime<Utc>) -> LogRecord {
        LogRecord {
            id: uuid::Uuid::now_v7().to_string(),
            timestamp: now,
            service: self.default_service(),
            level: Level::Info,
            message: String::new(),
            host: self.settings.host.clone(),
            trace_id: None,
            span_id: None,
            attributes: self.settings.attributes.clone(),
        }
    }

    /// The line as it is, with the level of a level word near its start.
    fn plain(&self, line: &str, now: DateTime<Utc>) -> LogRecord {
        let mut record = self.base(now);
        record.level = text::plain_level(line);
        record.message = line.to_string();
        truncate_message(&mut record);
        record
    }
}

/// The attribute noting how many bytes of an over-long message were cut.
pub(crate) const TRUNCATED: &str = "lsctl.truncated_bytes";

/// Keeps a message within the daemon's limit, noting how much was cut, so
/// that one huge line cannot make its whole batch fail.
fn truncate_message(record: &mut LogRecord) {
    if record.message.len() <= MAX_MESSAGE_LEN {
        return;
    }
    let mut end = MAX_MESSAGE_LEN;
    while !record.message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = record.message.len() - end;
    record.message.truncate(end);
    if record.attributes.len() < MAX_ATTRIBUTES {
        record.attributes.insert(TRUNCATED.into(), cut.to_string());
    }
}

#[cfg(test)]
mod tests;
