//! `lsctl send` parsing end to end: the real binary, a real daemon, and a
//! file of mixed formats.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, fetch_all, lsctl};

fn stored(daemon: &TestDaemon, q: &str) -> Vec<LogRecord> {
    let mut records = tokio::runtime::Runtime::new().unwrap().block_on(fetch_all(
        &reqwest::Client::new(),
        daemon,
        q,
    ));
    records.sort_by_key(|r| r.timestamp);
    records
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the tests compare of a record: all but its id.
type Fields = (
    String,
    Level,
    String,
    Option<String>,
    String,
    BTreeMap<String, String>,
);

fn fields(r: &LogRecord) -> Fields {
    (
        r.timestamp.to_rfc3339(),
        r.level,
        r.service.clone(),
        r.host.clone(),
        r.message.clone(),
        r.attributes.clone(),
    )
}

fn expect(
    time: &str,
    level: Level,
    service: &str,
    host: Option<&str>,
    message: &str,
    attributes: &[(&str, &str)],
) -> Fields {
    (
        time.parse::<DateTime<Utc>>().unwrap().to_rfc3339(),
        level,
        service.to_string(),
        host.map(str::to_string),
        message.to_string(),
        attrs(attributes),
    )
}

const JAVA_TRACE: &str = "request failed\n\
    java.lang.IllegalStateException: boom\n\
    \tat com.example.App.handle(App.java:42)\n\
    \tat com.example.App.main(App.java:10)\n\
    Caused by: java.io.IOException: disk gone\n\
    \tat com.example.Disk.read(Disk.java:7)\n\
    \t... 1 more";

#[test]
fn a_file_of_mixed_formats_is_stored_field_by_field() {
    let daemon = TestDaemon::start();
    let before = Utc::now();
    let output = lsctl(&daemon)
        .args(["send", "--attr", "env=test", "--attr", "team=core"])
        .arg(fixture("mixed.log"))
        .output()
        .unwrap();
    let after = Utc::now();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let records = stored(&daemon, "env=test");

    // Syslog's year-less time is in this year, unless that is ahead of now.
    let year = {
        let this = before.year();
        let nov_27 = NaiveDate::from_ymd_opt(this, 11, 27).unwrap();
        let at = nov_27.and_hms_opt(12, 0, 3).unwrap().and_utc();
        if at > before + chrono::Duration::days(1) {
            this - 1
        } else {
            this
        }
    };
    let cron_time = format!("{year}-11-27T12:00:03Z");
    let common = [("env", "test"), ("team", "core")];
    let with = |pairs: &[(&'static str, &'static str)]| {
        let mut all = pairs.to_vec();
        all.extend(common);
        all
    };
    let python = "division failed\n\
        Traceback (most recent call last):\n  File \"job.py\", line 3, in <module>\n    1 / 0\n\
        ZeroDivisionError: division by zero\n\n\
        During handling of the above exception, another exception occurred:\n\n\
        Traceback (most recent call last):\n  File \"job.py\", line 5, in <module>\n    \
        raise ValueError(\"bad input\")\n\
        ValueError: bad input";
    let mut expected = vec![
        expect(
            "2026-11-27T12:00:00.5Z",
            Level::Warn,
            "storage",
            None,
            "disk almost full",
            &with(&[("disk", "/dev/sda1"), ("used", "0.93")]),
        ),
        expect(
            "2026-11-27T12:00:01Z",
            Level::Error,
            "billing",
            None,
            "payment declined",
            &with(&[("user", "42")]),
        ),
        expect(
            "2026-11-27T12:00:02.250Z",
            Level::Fatal,
            "sshd",
            Some("web1"),
            "Failed password for root",
            &with(&[("pid", "4242"), ("msgid", "ID47"), ("ip", "10.0.0.1")]),
        ),
        expect(
            "2026-11-27T12:00:04.123Z",
            Level::Error,
            "unknown",
            None,
            JAVA_TRACE,
            &with(&[("logger", "com.example.App"), ("thread", "main")]),
        ),
        expect(
            "2026-11-27T12:00:05Z",
            Level::Info,
            "unknown",
            None,
            "recovered",
            &with(&[("logger", "com.example.App"), ("thread", "main")]),
        ),
        expect(
            "2026-11-27T12:00:06Z",
            Level::Warn,
            "api",
            None,
            "slow request",
            &with(&[]),
        ),
        expect(
            "2026-11-27T12:00:06.250Z",
            Level::Error,
            "unknown",
            None,
            python,
            &with(&[("logger", "jobs")]),
        ),
        expect(
            "2026-11-27T12:00:07Z",
            Level::Info,
            "unknown",
            None,
            "next job",
            &with(&[("logger", "jobs")]),
        ),
        expect(
            &cron_time,
            Level::Info,
            "cron",
            Some("web2"),
            "(root) CMD (run-parts /etc/cron.hourly)",
            &with(&[("pid", "123")]),
        ),
    ];
    expected.sort_by_key(|e| e.0.parse::<DateTime<Utc>>().unwrap());

    // The unparseable line goes as it is, stamped when it was read.
    let garbage = records
        .iter()
        .find(|r| r.message.starts_with("garbage"))
        .expect("the garbage line");
    assert!(before <= garbage.timestamp && garbage.timestamp <= after);
    assert_eq!(
        (
            garbage.level,
            garbage.service.as_str(),
            garbage.message.as_str()
        ),
        (Level::Info, "unknown", "garbage ☃ {not json")
    );
    assert_eq!(garbage.attributes, attrs(&common));

    let parsed: Vec<Fields> = records
        .iter()
        .filter(|r| r.id != garbage.id)
        .map(fields)
        .collect();
    assert_eq!(parsed, expected);
}

#[test]
fn flags_win_over_what_lines_name() {
    let daemon = TestDaemon::start();
    let output = lsctl(&daemon)
        .args([
            "send",
            "--service",
            "forced",
            "--host",
            "h9",
            "--attr",
            "user=flag",
        ])
        .arg(fixture("mixed.log"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let records = stored(&daemon, "service:forced");
    assert_eq!(records.len(), 10);
    assert!(records.iter().all(|r| r.host.as_deref() == Some("h9")));
    assert!(records.iter().all(|r| r.attributes["user"] == "flag"));
    let sshd = records
        .iter()
        .find(|r| r.message.starts_with("Failed"))
        .unwrap();
    assert_eq!(sshd.attributes["service"], "sshd");
    assert_eq!(sshd.attributes["host"], "web1");
}

#[test]
fn a_stack_trace_from_a_live_pipe_arrives_as_one_record() {
    let daemon = TestDaemon::start();
    let mut child = lsctl(&daemon)
        .args(["send", "-s", "live", "--flush-interval", "100ms"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The trace comes in pieces, as a program writes it line by line.
    let java = std::fs::read_to_string(fixture("java.log")).unwrap();
    for line in java.lines() {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // The pipe stays open: the last record goes once the input is quiet.
    let started = Instant::now();
    let records = loop {
        let records = stored(&daemon, "service:live");
        if records.len() >= 2 || started.elapsed() > Duration::from_secs(10) {
            break records;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, [JAVA_TRACE, "recovered"]);
    assert_eq!(stored(&daemon, "service:live").len(), 2);
}

#[test]
fn send_help_documents_the_parsing_flags() {
    let output = Command::cargo_bin("lsctl")
        .unwrap()
        .args(["send", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--format", "--host", "--attr", "--timezone", "stack trace"] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}
