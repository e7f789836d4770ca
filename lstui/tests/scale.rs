//! End to end at scale: lstui on a daemon holding 1,000,000 records over
//! seven days. History opens without waiting on the whole store, pages
//! forward from the oldest record across page edges without a gap or a
//! duplicate (checked against `lsctl query`), finds the next error far
//! past the loaded pages, narrows to a service with a facet, and hands back
//! to the live tail.

mod common;

use std::io::Write;
use std::process::Command;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::{Tmux, log_rows, send};
use logstream_testkit::{TestDaemon, binary};

const RECORDS: u32 = 1_000_000;
/// Every this many records one is an ERROR.
const ERROR_EVERY: u32 = 125_000;
const SERVICES: u32 = 20;

fn time_of(start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    // Seven days in steps of 604.8 ms.
    start + Duration::microseconds(i64::from(n) * 604_800)
}

/// The stored records as NDJSON, written to `path`.
fn write_records(path: &std::path::Path, start: DateTime<Utc>) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..RECORDS {
        let level = if n % ERROR_EVERY == ERROR_EVERY / 2 {
            "ERROR"
        } else {
            "INFO"
        };
        writeln!(
            out,
            r#"{{"timestamp":"{}","service":"svc-{:02}","level":"{level}","message":"rec {n:07} {}"}}"#,
            time_of(start, n).to_rfc3339_opts(SecondsFormat::Micros, true),
            n % SERVICES,
            level.to_lowercase(),
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// The record numbers (`rec NNNNNNN`) in the log list, top to bottom.
fn numbers(screen: &str) -> Vec<u32> {
    log_rows(screen)
        .split("rec ")
        .skip(1)
        .filter_map(|rest| rest.get(..7)?.parse().ok())
        .collect()
}

/// The oldest `count` records' numbers, as `lsctl query` reads them.
fn oldest_by_lsctl(daemon: &TestDaemon, start: DateTime<Utc>, count: u32) -> Vec<u32> {
    let until = time_of(start, count).to_rfc3339_opts(SecondsFormat::Micros, true);
    let output = Command::new(binary("lsctl"))
        .args([
            "--server",
            &daemon.url,
            "query",
            "--since",
            "8d",
            "--until",
            &until,
        ])
        .args(["--all", "--reverse", "-o", "raw"])
        .env_remove("LOGSTREAM_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line[4..11].parse().unwrap())
        .collect()
}

#[test]
fn a_million_records_over_a_week_page_jump_narrow_and_go_live() {
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start();
    let start = Utc::now() - Duration::days(7);
    let file = data.path().join("week.ndjson");
    write_records(&file, start);
    let sent = Command::new(binary("lsctl"))
        .args(["--server", &daemon.url, "send"])
        .arg(&file)
        .env_remove("LOGSTREAM_TOKEN")
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );

    let tmux = Tmux::start(config.path());
    tmux.launch_lstui(&daemon.url, "--from 8d");
    tmux.wait_for("history of the whole week", |s| {
        s.contains("timeline 1,000,000 records") && numbers(s).last() == Some(&(RECORDS - 1))
    });

    // From the oldest record a page at a time, across three page edges.
    const PAGED: u32 = 1_600;
    tmux.keys(&["g"]);
    let mut screen = tmux.wait_for("the oldest record", |s| numbers(s).first() == Some(&0));
    tmux.keys(&["NPage"]);
    let mut seen: Vec<u32> = Vec::new();
    while seen.last().is_none_or(|n| *n < PAGED) {
        let shown = numbers(&screen);
        let last_seen = seen.last().copied();
        seen.extend(
            shown
                .iter()
                .filter(|n| last_seen.is_none_or(|last| **n > last)),
        );
        let last = *shown.last().unwrap();
        tmux.keys(&["NPage"]);
        screen = tmux.wait_for("the next page", |s| {
            numbers(s).last().is_some_and(|n| *n > last)
        });
    }
    seen.retain(|n| *n < PAGED);
    assert!(
        seen == oldest_by_lsctl(&daemon, start, PAGED),
        "lstui paged {} records, not lsctl query's first {PAGED}",
        seen.len()
    );

    // The next error is far past the loaded window.
    tmux.keys(&["e", "d"]);
    let first_error = ERROR_EVERY / 2;
    tmux.wait_for("the first error", |s| {
        s.contains(&format!("\"rec {first_error:07} error\""))
    });
    tmux.keys(&["Escape"]);

    // The first service facet (svc-00, the first of twenty equal counts).
    tmux.keys(&["Tab", "Enter"]);
    let screen = tmux.wait_for("one service", |s| {
        s.contains("timeline 50,000 records") && s.contains("services svc-00")
    });
    assert!(
        numbers(&screen).iter().all(|n| n % SERVICES == 0),
        "{screen}"
    );

    // Back to live: a new record appears.
    tmux.keys(&["Tab", "h"]);
    tmux.wait_for("the live tail", |s| s.contains("following"));
    send(&daemon, "svc-00", &["INFO fresh-after-a-week"]);
    tmux.wait_for("the new record", |s| s.contains("fresh-after-a-week"));
    tmux.keys(&["q"]);
}
