//! `lsctl query`: search, page through results, print them.

use std::io::Write;

use anstyle::{AnsiColor, Effects, Style};
use chrono::{Local, Utc};
use logstream_shared::api::{MAX_PAGE_SIZE, SearchParams};
use logstream_shared::query::{self, Field, Filter, LevelFilter};
use logstream_shared::time::parse_time_bound;
use logstream_shared::{Level, LogRecord, Query};

use crate::cli::{FilterArgs, OutputFormat, QueryArgs};
use crate::client::Client;
use crate::{Failure, usage};

/// The query the flags and arguments describe, checked here so that a
/// mistake is pointed at before anything is sent.
/// The positional arguments as one query, or a usage error pointing at the mistake.
pub(crate) fn parse_arguments(words: &[String]) -> Result<Query, Failure> {
    let text = words.join(" ");
    query::parse(&text).map_err(|e| usage(format!("{e}\n{}", e.pointer(&text))))
}

/// The query the filter flags and arguments describe, checked locally.
pub(crate) fn build_query(args: &FilterArgs) -> Result<String, Failure> {
    let mut query = parse_arguments(&args.query)?;
    if args.service.iter().any(|s| s.is_empty()) {
        return Err(usage("--service: a service name must not be empty"));
    }
    if !args.service.is_empty() {
        query.push(Filter::Field {
            field: Field::Service,
            values: args.service.clone(),
        });
    }
    if let Some(level) = &args.level {
        let level: Level = level.parse().map_err(|e| usage(format!("--level: {e}")))?;
        query.push(Filter::Level(LevelFilter::AnyOf(vec![level])));
    }
    Ok(query.to_string())
}

/// `--since`/`--until` as RFC 3339 (relative times resolved here), checked.
pub(crate) fn time_bound(flag: &str, value: &Option<String>) -> Result<Option<String>, Failure> {
    value
        .as_deref()
        .map(|text| {
            parse_time_bound(text, Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .map_err(|e| usage(format!("--{flag}: {e}")))
        })
        .transpose()
}

pub(crate) async fn query(client: &Client, args: QueryArgs) -> Result<(), Failure> {
    let mut params = SearchParams {
        q: Some(build_query(&args.filter)?),
        since: time_bound("since", &args.since)?,
        until: time_bound("until", &args.until)?,
        ..SearchParams::default()
    };
    let stdout = anstream::stdout();
    let mut out = stdout.lock();
    let mut printer = Printer::new(args.output, args.utc);
    let mut remaining = args.limit;
    while remaining > 0 {
        params.limit = Some(remaining.min(MAX_PAGE_SIZE));
        let page = client.search(&params).await?;
        remaining -= page.data.len();
        printer.print(&mut out, &page.data)?;
        match page.next_cursor {
            Some(cursor) => params.cursor = Some(cursor),
            None => break,
        }
    }
    printer.finish(&mut out)?;
    out.flush()?;
    Ok(())
}

/// Writes records in the chosen format, page by page, so memory stays flat.
pub(crate) struct Printer {
    format: OutputFormat,
    utc: bool,
    printed: usize,
    /// For records printed one at a time: the widest service so far.
    live_service_width: usize,
}

/// The text with control characters (escape sequences, newlines) shown as
/// escapes, so a log line cannot drive the terminal or break the alignment.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
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

impl Printer {
    pub(crate) fn new(format: OutputFormat, utc: bool) -> Printer {
        Printer {
            format,
            utc,
            printed: 0,
            live_service_width: 0,
        }
    }

    /// One record of a stream (text or NDJSON), aligned with those before.
    pub(crate) fn print_live(
        &mut self,
        out: &mut impl Write,
        record: &LogRecord,
    ) -> std::io::Result<()> {
        self.live_service_width = self
            .live_service_width
            .max(column_width(std::iter::once(record.service.as_str()), 24));
        match self.format {
            OutputFormat::Text => self.text_line(out, record, self.live_service_width)?,
            _ => {
                serde_json::to_writer(&mut *out, record)?;
                writeln!(out)?;
            }
        }
        out.flush()
    }

    fn print(&mut self, out: &mut impl Write, records: &[LogRecord]) -> std::io::Result<()> {
        let service_width = column_width(records.iter().map(|r| r.service.as_str()), 24);
        for record in records {
            match self.format {
                OutputFormat::Text => self.text_line(out, record, service_width)?,
                OutputFormat::Ndjson => {
                    serde_json::to_writer(&mut *out, record)?;
                    writeln!(out)?;
                }
                OutputFormat::Json => {
                    out.write_all(if self.printed == 0 { b"[" } else { b",\n" })?;
                    serde_json::to_writer(&mut *out, record)?;
                }
            }
            self.printed += 1;
        }
        Ok(())
    }

    fn finish(&self, out: &mut impl Write) -> std::io::Result<()> {
        if self.format == OutputFormat::Json {
            out.write_all(if self.printed == 0 { b"[]\n" } else { b"]\n" })?;
        }
        Ok(())
    }

    fn text_line(
        &self,
        out: &mut impl Write,
        r: &LogRecord,
        service_width: usize,
    ) -> std::io::Result<()> {
        const TIME: &str = "%Y-%m-%d %H:%M:%S%.3f";
        let time = if self.utc {
            r.timestamp.format(TIME).to_string()
        } else {
            r.timestamp.with_timezone(&Local).format(TIME).to_string()
        };
        let level = level_style(r.level);
        write!(
            out,
            "{DIM}{time}{DIM:#} {level}{:<5}{level:#} {SERVICE}{:<service_width$}{SERVICE:#} {}",
            r.level.as_str(),
            printable(&r.service),
            printable(&r.message)
        )?;
        for (key, value) in &r.attributes {
            write!(out, " {DIM}{}={}{DIM:#}", printable(key), printable(value))?;
        }
        writeln!(out)
    }
}
