//! The layout corpus (tests/layouts.toml): every layout's lines, recognised
//! without help and forced with `--format`, give the time, level, service,
//! message and attributes written beside them.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use logstream_parse::{Assembler, Format, Settings, Zone, layout};
use logstream_shared::{Level, LogRecord, validate};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Corpus {
    layout: Vec<Case>,
}

/// One layout's lines and the records they must give.
#[derive(Debug, Deserialize)]
struct Case {
    /// The layout detection must pick (a catalogue name).
    name: String,
    /// Where the layout is documented.
    #[allow(dead_code)]
    documented: String,
    lines: String,
    records: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    time: String,
    level: Level,
    #[serde(default = "unknown")]
    service: String,
    message: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

fn unknown() -> String {
    "unknown".into()
}

/// When the corpus is read: decides the year of year-less times.
fn now() -> DateTime<Utc> {
    "2026-11-27T13:00:00Z".parse().unwrap()
}

fn corpus() -> Corpus {
    let text = include_str!("layouts.toml");
    toml::from_str(text).expect("tests/layouts.toml")
}

/// The records of `lines`, and the layout recognised for the last line.
fn read(format: Format, lines: &str) -> (Vec<LogRecord>, Option<&'static str>) {
    let mut assembler = Assembler::new(Settings {
        format,
        timezone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        ..Settings::default()
    });
    let mut records: Vec<LogRecord> = lines
        .lines()
        .flat_map(|line| assembler.push_at(line, now()))
        .collect();
    let detected = assembler.layout().map(|l| l.name);
    records.extend(assembler.finish());
    (records, detected)
}

/// What differs between the records and the expectations, one line each.
fn differences(case: &Case, records: &[LogRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    if records.len() != case.records.len() {
        problems.push(format!(
            "{} records, expected {}: {records:#?}",
            records.len(),
            case.records.len()
        ));
        return problems;
    }
    for (index, (record, expected)) in records.iter().zip(&case.records).enumerate() {
        let mut check = |what: &str, got: String, want: String| {
            if got != want {
                problems.push(format!("record {index}: {what} {got:?}, expected {want:?}"));
            }
        };
        let want_time: DateTime<Utc> = expected.time.parse().expect("an RFC 3339 time");
        check(
            "time",
            record.timestamp.to_rfc3339(),
            want_time.to_rfc3339(),
        );
        check(
            "level",
            record.level.to_string(),
            expected.level.to_string(),
        );
        check("service", record.service.clone(), expected.service.clone());
        if let Some(message) = &expected.message {
            check("message", record.message.clone(), message.clone());
        }
        if let Some(attributes) = &expected.attributes {
            check(
                "attributes",
                format!("{:?}", record.attributes),
                format!("{attributes:?}"),
            );
        }
        if !validate(record).is_empty() {
            problems.push(format!(
                "record {index} would be refused: {:?}",
                validate(record)
            ));
        }
    }
    problems
}

#[test]
fn the_corpus_covers_at_least_forty_layouts() {
    let corpus = corpus();
    assert!(corpus.layout.len() >= 40, "{} layouts", corpus.layout.len());
    for case in &corpus.layout {
        assert!(
            layout(&case.name).is_some(),
            "{} is not in the catalogue",
            case.name
        );
        assert!(
            case.documented.starts_with("http"),
            "{}: where is it documented?",
            case.name
        );
    }
}

#[test]
fn every_layout_is_recognised_with_its_time_level_and_fields() {
    let mut failures = Vec::new();
    for case in corpus().layout {
        let (records, detected) = read(Format::Auto, &case.lines);
        if detected != Some(case.name.as_str()) {
            failures.push(format!("{}: recognised as {detected:?}", case.name));
        }
        for problem in differences(&case, &records) {
            failures.push(format!("{} (auto): {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_layout_forced_by_name_reads_its_lines_alike() {
    let mut failures = Vec::new();
    for case in corpus().layout {
        let format: Format = case.name.parse().unwrap();
        let (records, _) = read(format, &case.lines);
        for problem in differences(&case, &records) {
            failures.push(format!("{} (--format {}): {problem}", case.name, case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_catalogue_example_is_recognised_as_its_layout() {
    for layout in logstream_parse::catalogue() {
        let (records, detected) = read(Format::Auto, layout.example);
        assert_eq!(detected, Some(layout.name), "{}", layout.example);
        assert!(!records.is_empty());
    }
}
