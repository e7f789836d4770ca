//! The layout corpus end to end: a file of each layout's lines, sent with
//! the real `lsctl send -v` to a real daemon, is stored with the time and
//! level its lines carry, and lsctl says which layout it recognised.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, fetch_all, lsctl};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Corpus {
    layout: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    lines: String,
    records: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    time: String,
    level: Level,
}

/// The corpus' reading time: its records without a time of their own
/// have this one there, and the time of sending here.
const CORPUS_NOW: &str = "2026-11-27T13:00:00Z";

/// Layouts whose lines carry a time of day without a date: their day is
/// the day of sending, not the corpus'.
const DATELESS: [&str; 2] = ["serilog", "elixir"];

fn stored(daemon: &TestDaemon, q: &str) -> Vec<LogRecord> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(fetch_all(&reqwest::Client::new(), daemon, q))
}

/// What differs between the stored records and the case's, in time order.
fn differences(
    case: &Case,
    mut records: Vec<LogRecord>,
    sent: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<String> {
    if records.len() != case.records.len() {
        return vec![format!(
            "{} records stored, expected {}",
            records.len(),
            case.records.len()
        )];
    }
    let mut expected: Vec<(Option<DateTime<Utc>>, Level)> = case
        .records
        .iter()
        .map(|e| {
            let dated = e.time != CORPUS_NOW && !DATELESS.contains(&case.name.as_str());
            (dated.then(|| e.time.parse().unwrap()), e.level)
        })
        .collect();
    if DATELESS.contains(&case.name.as_str()) {
        // Whether a time of day is today or yesterday depends on the clock
        // (a time later than now is yesterday's), and so does the records'
        // order: only their levels are compared, as sets.
        expected.sort_by_key(|(_, level)| *level);
        records.sort_by_key(|r| r.level);
    } else {
        // Stored records come back by time; those timed on arrival sort last.
        expected.sort_by_key(|(time, _)| time.unwrap_or(DateTime::<Utc>::MAX_UTC));
        records.sort_by_key(|r| r.timestamp);
    }
    let mut problems = Vec::new();
    for (record, (time, level)) in records.iter().zip(&expected) {
        let time_ok = match time {
            Some(time) => record.timestamp == *time,
            None => {
                DATELESS.contains(&case.name.as_str())
                    || (sent.0..=sent.1).contains(&record.timestamp)
            }
        };
        if !time_ok || record.level != *level {
            problems.push(format!(
                "stored {} {}, expected {time:?} {level}: {}",
                record.timestamp, record.level, record.message
            ));
        }
    }
    problems
}

#[test]
fn a_file_of_each_layout_is_stored_with_the_time_and_level_of_its_lines() {
    let corpus: Corpus = toml::from_str(include_str!("../../parse/tests/layouts.toml")).unwrap();
    let daemon = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = BTreeMap::new();
    for (index, case) in corpus.layout.iter().enumerate() {
        let file = dir.path().join(format!("{}-{index}.log", case.name));
        std::fs::write(&file, &case.lines).unwrap();
        let tag = format!("corpus={index}");
        let before = Utc::now();
        let output = lsctl(&daemon)
            .args(["send", "-v", "--timezone", "UTC", "--attr", &tag])
            .arg(&file)
            .output()
            .unwrap();
        let after = Utc::now();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", case.name);
        let said = format!("{}: format {}\n", file.display(), case.name);
        if !stderr.contains(&said) {
            failures.insert(
                format!("{} #{index}", case.name),
                vec![format!("stderr: {stderr}")],
            );
            continue;
        }
        let problems = differences(case, stored(&daemon, &tag), (before, after));
        if !problems.is_empty() {
            failures.insert(format!("{} #{index}", case.name), problems);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
