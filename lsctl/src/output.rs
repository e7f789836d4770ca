//! How records are printed, one path for `lsctl query` (page by page) and
//! `lsctl tail` (one record at a time): text for people, JSON, NDJSON, CSV,
//! logfmt or the raw message, with `--fields` choosing the columns.
//!
//! Only text goes through `anstream` (which drops colours off a terminal);
//! the other formats write bytes as they are, buffered, and flush after each
//! page or live record. A closed pipe surfaces as an `io::Error` of kind
//! `BrokenPipe`, which `main` turns into a quiet exit 0.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use anstyle::{AnsiColor, Effects, Style};
use chrono::{Local, SecondsFormat};
use logstream_shared::{Level, LogRecord};

use crate::cli::OutputFormat;
use crate::{Failure, usage};

/// A record field that can be printed as a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Id,
    Time,
    Level,
    Service,
    Host,
    Trace,
    Span,
    Message,
    /// Every attribute.
    Attributes,
    /// One attribute.
    Attr(String),
}

/// A chosen column: a field and its name in headers and keys (as the user wrote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) label: String,
    pub(crate) field: Field,
}

impl Column {
    fn new(label: &str, field: Field) -> Column {
        Column {
            label: label.to_string(),
            field,
        }
    }
}

pub(crate) const FIELD_NAMES: &str =
    "time, level, service, message, host, id, trace_id, span_id, attributes, attr.KEY";

/// `--fields` checked against the format; `None` keeps the format's default columns.
pub(crate) fn columns(
    format: OutputFormat,
    names: &[String],
) -> Result<Option<Vec<Column>>, Failure> {
    if names.is_empty() {
        return Ok(None);
    }
    if format == OutputFormat::Raw {
        return Err(usage(
            "--fields does not apply to -o raw, which prints the message only; \
             use -o text, csv, logfmt, json or ndjson to choose columns",
        ));
    }
    names
        .iter()
        .map(|name| parse_field(name.trim()).map(|field| Column::new(name.trim(), field)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|e| usage(format!("--fields: {e}")))
}

fn parse_field(name: &str) -> Result<Field, String> {
    if let Some(key) = name.strip_prefix("attr.") {
        if key.is_empty() {
            return Err("\"attr.\" needs an attribute name, like attr.user_id".into());
        }
        return Ok(Field::Attr(key.to_string()));
    }
    Ok(match name.to_ascii_lowercase().as_str() {
        "id" => Field::Id,
        "time" | "timestamp" | "ts" => Field::Time,
        "level" => Field::Level,
        "service" => Field::Service,
        "host" => Field::Host,
        "trace" | "trace_id" => Field::Trace,
        "span" | "span_id" => Field::Span,
        "message" | "msg" => Field::Message,
        "attributes" | "attrs" => Field::Attributes,
        "" => return Err(format!("an empty field name; fields are {FIELD_NAMES}")),
        _ => {
            return Err(format!(
                "unknown field \"{name}\"; fields are {FIELD_NAMES}"
            ));
        }
    })
}

/// The columns of CSV when `--fields` is not given.
fn csv_default() -> Vec<Column> {
    vec![
        Column::new("time", Field::Time),
        Column::new("level", Field::Level),
        Column::new("service", Field::Service),
        Column::new("host", Field::Host),
        Column::new("message", Field::Message),
        Column::new("trace_id", Field::Trace),
        Column::new("span_id", Field::Span),
        Column::new("id", Field::Id),
        Column::new("attributes", Field::Attributes),
    ]
}

/// The pairs of logfmt when `--fields` is not given (absent ones are left out;
/// attributes follow as their own keys).
fn logfmt_default() -> Vec<Column> {
    vec![
        Column::new("time", Field::Time),
        Column::new("level", Field::Level),
        Column::new("service", Field::Service),
        Column::new("host", Field::Host),
        Column::new("trace_id", Field::Trace),
        Column::new("span_id", Field::Span),
        Column::new("msg", Field::Message),
        Column::new("attributes", Field::Attributes),
    ]
}

/// Standard output for `format`, buffered: text through `anstream` (colours
/// only where they belong), the rest as plain bytes.
pub(crate) fn stdout(format: OutputFormat) -> Box<dyn Write> {
    match format {
        OutputFormat::Text => Box::new(BufWriter::new(anstream::stdout().lock())),
        _ => Box::new(BufWriter::new(io::stdout().lock())),
    }
}

/// Writes records in one format, page by page or one at a time.
pub(crate) struct Printer<W: Write> {
    out: W,
    format: OutputFormat,
    /// `--fields`; `None` for the format's default.
    columns: Option<Vec<Column>>,
    utc: bool,
    printed: usize,
    header_written: bool,
    /// For records printed one at a time: the widest service so far.
    live_service_width: usize,
    /// Records are marked as hits or their context (`query -C`).
    marks: bool,
}

impl<W: Write> Printer<W> {
    pub(crate) fn new(
        out: W,
        format: OutputFormat,
        columns: Option<Vec<Column>>,
        utc: bool,
    ) -> Printer<W> {
        Printer {
            out,
            format,
            columns,
            utc,
            printed: 0,
            header_written: false,
            live_service_width: 0,
            marks: false,
        }
    }

    /// Marks every record as a hit or as context (`query -C`): `> ` or two
    /// spaces before a text line, `hit` in JSON, CSV and logfmt.
    pub(crate) fn marking_hits(mut self) -> Printer<W> {
        self.marks = true;
        self
    }

    /// A page of records in the given order, aligned among themselves, then flushed.
    pub(crate) fn page(&mut self, records: &[LogRecord]) -> io::Result<()> {
        let service_width = column_width(records.iter().map(|r| r.service.as_str()), 24);
        for record in records {
            self.write(record, service_width, true)?;
        }
        self.out.flush()
    }

    /// A hit and its context as `(record, is a hit)`, in the given order,
    /// aligned among themselves, then flushed.
    pub(crate) fn group(&mut self, records: &[(&LogRecord, bool)]) -> io::Result<()> {
        let service_width = column_width(records.iter().map(|(r, _)| r.service.as_str()), 24);
        for (record, hit) in records {
            self.write(record, service_width, *hit)?;
        }
        self.out.flush()
    }

    /// Between groups of context that do not touch: `--`, as `grep -C`
    /// prints, in the formats read line by line.
    pub(crate) fn separator(&mut self) -> io::Result<()> {
        match self.format {
            OutputFormat::Text => writeln!(self.out, "{DIM}--{DIM:#}"),
            OutputFormat::Logfmt | OutputFormat::Raw => writeln!(self.out, "--"),
            OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Csv => Ok(()),
        }
    }

    /// One record of a stream, aligned with those before, then flushed.
    pub(crate) fn record(&mut self, record: &LogRecord) -> io::Result<()> {
        self.live_service_width = self
            .live_service_width
            .max(column_width(std::iter::once(record.service.as_str()), 24));
        self.write(record, self.live_service_width, true)?;
        self.out.flush()
    }

    /// Closes what the format opened (the JSON array; CSV's header when no
    /// record came) and flushes.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                self.out
                    .write_all(if self.printed == 0 { b"[]\n" } else { b"]\n" })?;
            }
            OutputFormat::Csv => self.csv_header()?,
            _ => {}
        }
        self.out.flush()
    }

    /// The output, for tests.
    #[cfg(test)]
    pub(crate) fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, record: &LogRecord, service_width: usize, hit: bool) -> io::Result<()> {
        match self.format {
            OutputFormat::Text => {
                if self.marks {
                    self.out.write_all(if hit { b"> " } else { b"  " })?;
                }
                match &self.columns {
                    None => self.text_line(record, service_width)?,
                    Some(columns) => {
                        let line = text_columns(columns, record, service_width, self.utc);
                        writeln!(self.out, "{line}")?;
                    }
                }
            }
            OutputFormat::Json => {
                self.out
                    .write_all(if self.printed == 0 { b"[" } else { b",\n" })?;
                self.json_object(record, hit)?;
            }
            OutputFormat::Ndjson => {
                self.json_object(record, hit)?;
                self.out.write_all(b"\n")?;
            }
            OutputFormat::Csv => {
                self.csv_header()?;
                let columns = self.columns.clone().unwrap_or_else(csv_default);
                let row = columns.iter().map(|c| machine_value(&c.field, record));
                let row = row.map(|v| v.unwrap_or_default());
                let mark = self
                    .marks
                    .then_some(Cow::Borrowed(if hit { "true" } else { "false" }));
                self.csv_row(row.chain(mark))?;
            }
            OutputFormat::Logfmt => {
                let columns = self.columns.as_deref();
                let mut line = logfmt_line(columns.unwrap_or(&logfmt_default()), record);
                if self.marks {
                    line.push_str(if hit { " hit=true" } else { " hit=false" });
                }
                writeln!(self.out, "{line}")?;
            }
            OutputFormat::Raw => {
                let message = printable_keeping_tabs(&record.message);
                self.out.write_all(message.as_bytes())?;
                self.out.write_all(b"\n")?;
            }
        }
        self.printed += 1;
        Ok(())
    }

    fn csv_header(&mut self) -> io::Result<()> {
        if self.header_written {
            return Ok(());
        }
        self.header_written = true;
        let columns = self.columns.clone().unwrap_or_else(csv_default);
        let labels = columns.iter().map(|c| Cow::Owned(c.label.clone()));
        let mark = self.marks.then_some(Cow::Borrowed("hit"));
        self.csv_row(labels.chain(mark))
    }

    fn csv_row<'a>(&mut self, values: impl Iterator<Item = Cow<'a, str>>) -> io::Result<()> {
        // One small writer a row: the csv crate quotes, `out` stays ours.
        let mut row = csv::WriterBuilder::new()
            .has_headers(false)
            .buffer_capacity(1024)
            .from_writer(Vec::with_capacity(256));
        let values: Vec<String> = values.map(|v| printable(&v).into_owned()).collect();
        row.write_record(values.iter().map(|v| v.as_bytes()))
            .map_err(io::Error::other)?;
        let row = row.into_inner().map_err(|e| e.into_error())?;
        self.out.write_all(&row)
    }

    fn json_object(&mut self, record: &LogRecord, hit: bool) -> io::Result<()> {
        let mut object = match &self.columns {
            None if !self.marks => {
                return serde_json::to_writer(&mut self.out, record).map_err(io::Error::from);
            }
            None => serde_json::to_vec(record)?,
            Some(columns) => columns_object(columns, record)?,
        };
        if self.marks {
            object.pop(); // its closing brace
            if object != b"{" {
                object.push(b',');
            }
            let mark: &[u8] = if hit {
                b"\"hit\":true}"
            } else {
                b"\"hit\":false}"
            };
            object.extend_from_slice(mark);
        }
        self.out.write_all(&object)
    }

    /// The classic line: time, level, service, message, then attributes.
    fn text_line(&mut self, r: &LogRecord, service_width: usize) -> io::Result<()> {
        let time = text_time(r, self.utc);
        let level = level_style(r.level);
        write!(
            self.out,
            "{DIM}{time}{DIM:#} {level}{:<5}{level:#} {SERVICE}{:<service_width$}{SERVICE:#} {}",
            r.level.as_str(),
            printable(&r.service),
            printable(&r.message)
        )?;
        for (key, value) in &r.attributes {
            write!(
                self.out,
                " {DIM}{}={}{DIM:#}",
                printable(key),
                printable(value)
            )?;
        }
        writeln!(self.out)
    }
}

/// The chosen columns of a record as a JSON object.
fn columns_object(columns: &[Column], record: &LogRecord) -> io::Result<Vec<u8>> {
    let mut object = Vec::with_capacity(256);
    object.push(b'{');
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            object.push(b',');
        }
        serde_json::to_writer(&mut object, &column.label)?;
        object.push(b':');
        match &column.field {
            Field::Attributes => serde_json::to_writer(&mut object, &record.attributes)?,
            field => serde_json::to_writer(&mut object, &machine_value(field, record))?,
        }
    }
    object.push(b'}');
    Ok(object)
}

fn text_time(r: &LogRecord, utc: bool) -> String {
    const TIME: &str = "%Y-%m-%d %H:%M:%S%.3f";
    if utc {
        r.timestamp.format(TIME).to_string()
    } else {
        r.timestamp.with_timezone(&Local).format(TIME).to_string()
    }
}

/// Chosen columns for people: styled, level and service padded, absent values "-".
fn text_columns(columns: &[Column], r: &LogRecord, service_width: usize, utc: bool) -> String {
    let mut cells: Vec<String> = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let last = i + 1 == columns.len();
        let cell = match &column.field {
            Field::Time => format!("{DIM}{}{DIM:#}", text_time(r, utc)),
            Field::Level => {
                let style = level_style(r.level);
                if last {
                    format!("{style}{}{style:#}", r.level.as_str())
                } else {
                    format!("{style}{:<5}{style:#}", r.level.as_str())
                }
            }
            Field::Service if !last => {
                format!(
                    "{SERVICE}{:<service_width$}{SERVICE:#}",
                    printable(&r.service)
                )
            }
            Field::Service => format!("{SERVICE}{}{SERVICE:#}", printable(&r.service)),
            Field::Attributes => {
                let pairs: Vec<String> = r
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{DIM}{}={}{DIM:#}", printable(k), printable(v)))
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                pairs.join(" ")
            }
            field => match machine_value(field, r) {
                Some(value) => printable(&value).into_owned(),
                None => "-".to_string(),
            },
        };
        cells.push(cell);
    }
    cells.join(" ")
}

/// A field's value for machines: RFC 3339 UTC times, level names, attributes as
/// a JSON object; `None` when the record has no such value.
fn machine_value<'a>(field: &Field, r: &'a LogRecord) -> Option<Cow<'a, str>> {
    match field {
        Field::Id => Some(Cow::Borrowed(&r.id)),
        Field::Time => Some(Cow::Owned(
            r.timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        )),
        Field::Level => Some(Cow::Borrowed(r.level.as_str())),
        Field::Service => Some(Cow::Borrowed(&r.service)),
        Field::Host => r.host.as_deref().map(Cow::Borrowed),
        Field::Trace => r.trace_id.as_deref().map(Cow::Borrowed),
        Field::Span => r.span_id.as_deref().map(Cow::Borrowed),
        Field::Message => Some(Cow::Borrowed(&r.message)),
        Field::Attributes => Some(Cow::Owned(
            serde_json::to_string(&r.attributes).unwrap_or_default(),
        )),
        Field::Attr(key) => r.attributes.get(key).map(|v| Cow::Borrowed(v.as_str())),
    }
}

/// `key=value …`; absent values are left out, `attributes` spreads into its own keys.
fn logfmt_line(columns: &[Column], r: &LogRecord) -> String {
    let mut line = String::with_capacity(128);
    let mut pair = |key: &str, value: &str| {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&logfmt_key(key));
        line.push('=');
        logfmt_value(&mut line, value);
    };
    for column in columns {
        match &column.field {
            Field::Attributes => {
                for (key, value) in &r.attributes {
                    pair(key, value);
                }
            }
            field => {
                if let Some(value) = machine_value(field, r) {
                    pair(&column.label, &value);
                }
            }
        }
    }
    line
}

/// A key as logfmt allows it: no spaces, `=`, quotes or control characters
/// (each becomes `_`), and never empty.
pub(crate) fn logfmt_key(key: &str) -> Cow<'_, str> {
    let bad = |c: char| c <= ' ' || c == '=' || c == '"' || c.is_control();
    if key.is_empty() {
        Cow::Borrowed("_")
    } else if key.chars().any(bad) {
        Cow::Owned(key.chars().map(|c| if bad(c) { '_' } else { c }).collect())
    } else {
        Cow::Borrowed(key)
    }
}

/// A value, bare when it can be, else quoted with `\"`, `\\`, `\n`, `\r`, `\t`
/// and `\u{…}` escapes (as go-logfmt writes them).
pub(crate) fn logfmt_value(line: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if !needs_quotes {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&format!("\\u{:04x}", c as u32)),
            c => line.push(c),
        }
    }
    line.push('"');
}

/// The text with control characters (escape sequences, newlines) shown as
/// Rust escapes (`\n`, `\u{1b}`), so a log line cannot drive the terminal
/// or break a line or the alignment. Every output but JSON (which escapes
/// them itself) prints values through this: text, CSV, logfmt (its own
/// escapes) and raw (which keeps tabs, see [`printable_keeping_tabs`]).
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    escape_controls(text, |_| false)
}

/// [`printable`], but tabs stay tabs: `-o raw` is for tools that split on them.
pub(crate) fn printable_keeping_tabs(text: &str) -> Cow<'_, str> {
    escape_controls(text, |c| c == '\t')
}

fn escape_controls(text: &str, kept: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !kept(c);
    if !text.chars().any(escaped) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if escaped(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// The width of the widest value, in characters, at most `cap`.
pub(crate) fn column_width<'a>(values: impl Iterator<Item = &'a str>, cap: usize) -> usize {
    values
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0)
        .min(cap)
}

pub(crate) const DIM: Style = Style::new().effects(Effects::DIMMED);
const SERVICE: Style = AnsiColor::Cyan.on_default();

fn level_style(level: Level) -> Style {
    match level {
        Level::Trace => DIM,
        Level::Debug => AnsiColor::Blue.on_default(),
        Level::Info => AnsiColor::Green.on_default(),
        Level::Warn => AnsiColor::Yellow.on_default(),
        Level::Error => AnsiColor::Red.on_default().effects(Effects::BOLD),
        Level::Fatal => AnsiColor::White.on(AnsiColor::Red).effects(Effects::BOLD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> LogRecord {
        LogRecord {
            id: "r1".into(),
            timestamp: "2024-05-01T12:00:01.5Z".parse().unwrap(),
            service: "api".into(),
            level: Level::Warn,
            message: "say \"hi\", a=b\nnext".into(),
            host: Some("h 1".into()),
            trace_id: None,
            span_id: None,
            attributes: [("user id".to_string(), String::new())].into(),
        }
    }

    fn print(format: OutputFormat, fields: &[&str]) -> String {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let columns = columns(format, &fields).unwrap();
        let mut printer = Printer::new(Vec::new(), format, columns, true);
        printer.page(&[record()]).unwrap();
        printer.finish().unwrap();
        String::from_utf8(printer.into_inner()).unwrap()
    }

    #[test]
    fn logfmt_quotes_what_needs_it() {
        assert_eq!(
            print(OutputFormat::Logfmt, &[]),
            "time=2024-05-01T12:00:01.500Z level=WARN service=api host=\"h 1\" \
             msg=\"say \\\"hi\\\", a=b\\nnext\" user_id=\"\"\n"
        );
        assert_eq!(
            print(OutputFormat::Logfmt, &["level", "attr.none", "trace_id"]),
            "level=WARN\n"
        );
    }

    #[test]
    fn csv_has_a_header_and_quotes() {
        assert_eq!(
            print(OutputFormat::Csv, &["time", "message", "attr.user id"]),
            // The newline is escaped: control characters never reach a terminal raw.
            "time,message,attr.user id\n2024-05-01T12:00:01.500Z,\"say \"\"hi\"\", a=b\\nnext\",\n"
        );
    }

    #[test]
    fn json_fields_keep_their_order_and_nulls() {
        assert_eq!(
            print(OutputFormat::Ndjson, &["service", "trace", "attributes"]),
            "{\"service\":\"api\",\"trace\":null,\"attributes\":{\"user id\":\"\"}}\n"
        );
    }

    #[test]
    fn text_columns_escape_and_mark_absent_values() {
        let text = print(
            OutputFormat::Text,
            &["level", "service", "trace_id", "message"],
        );
        assert_eq!(
            anstream::adapter::strip_str(&text).to_string(),
            "WARN  api - say \"hi\", a=b\\nnext\n"
        );
    }

    #[test]
    fn bad_fields_are_usage_errors() {
        for fields in [&["nope"][..], &["attr."], &[""]] {
            let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            assert!(columns(OutputFormat::Csv, &fields).is_err(), "{fields:?}");
        }
        assert!(columns(OutputFormat::Raw, &["message".to_string()]).is_err());
    }
}
