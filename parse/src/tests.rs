use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use logstream_shared::{Level, LogRecord, validate};

use super::*;

fn now() -> DateTime<Utc> {
    "2026-11-27T13:00:00Z".parse().unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn utc() -> Settings {
    Settings {
        timezone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        ..Settings::default()
    }
}

/// Every record of these lines, in order, with the input ending after them.
fn records_with(settings: Settings, input: &str) -> Vec<LogRecord> {
    let mut assembler = Assembler::new(settings);
    let mut records: Vec<LogRecord> = input
        .lines()
        .flat_map(|line| assembler.push_at(line, now()))
        .collect();
    records.extend(assembler.finish());
    for record in &records {
        assert_eq!(validate(record), [], "{record:?}");
    }
    records
}

fn records(input: &str) -> Vec<LogRecord> {
    records_with(utc(), input)
}

fn one(line: &str) -> LogRecord {
    let mut all = records(line);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// (timestamp, level, service, host, message) of a record.
fn fields(r: &LogRecord) -> (String, Level, &str, Option<&str>, &str) {
    (
        r.timestamp.to_rfc3339(),
        r.level,
        r.service.as_str(),
        r.host.as_deref(),
        r.message.as_str(),
    )
}

// ---- JSON ----

#[test]
fn json_lines_keep_their_fields() {
    let r = one(
        r#"{"level":"error","msg":"boom","time":"2024-04-30T10:00:00Z","user":7,"ok":true,"tags":["a"]}"#,
    );
    assert_eq!(
        fields(&r),
        (
            "2024-04-30T10:00:00+00:00".into(),
            Level::Error,
            "unknown",
            None,
            "boom"
        )
    );
    assert_eq!(
        r.attributes,
        attrs(&[("user", "7"), ("ok", "true"), ("tags", "[\"a\"]")])
    );
}

#[test]
fn json_common_field_names_and_nested_ones() {
    let r = one(
        r#"{"@timestamp":"2026-11-27T12:00:00.5+01:00","log":{"level":"warn","origin":"x"},"message":"m","service":{"name":"shop"},"host":{"name":"web-1"},"trace.id":"t1"}"#,
    );
    assert_eq!(
        fields(&r),
        (
            "2026-11-27T11:00:00.500+00:00".into(),
            Level::Warn,
            "shop",
            Some("web-1"),
            "m"
        )
    );
    assert_eq!(r.trace_id.as_deref(), Some("t1"));
    assert_eq!(r.attributes, attrs(&[("log", r#"{"origin":"x"}"#)]));

    let r = one(r#"{"severity":"CRITICAL","log":"docker line","app":"api","hostname":"h"}"#);
    assert_eq!(
        (r.level, r.message.as_str(), r.service.as_str()),
        (Level::Fatal, "docker line", "api")
    );
    assert_eq!(r.host.as_deref(), Some("h"));
}

/// Numbers keep the JSON text they were sent as: a `serde_json::Value`
/// would read `12345678901234567890123` as an f64 and send
/// `1.2345678901234568e22`. So in nested objects and arrays, in the members
/// of `attributes`, and in a level that is kept as an attribute.
#[test]
fn json_numbers_keep_every_digit() {
    let r = one(concat!(
        r#"{"msg":"m","big":12345678901234567890123,"frac":1.0000000000000000000001,"#,
        r#""level":36893488147419103232,"ids":[ 18446744073709551616 , 1.50 ],"#,
        r#""log":{"n":9007199254740993},"attributes":{"a":-9223372036854775809}}"#,
    ));
    assert_eq!(r.level, Level::Info);
    assert_eq!(
        r.attributes,
        attrs(&[
            ("big", "12345678901234567890123"),
            ("frac", "1.0000000000000000000001"),
            ("level", "36893488147419103232"),
            ("ids", "[18446744073709551616,1.50]"),
            ("log", r#"{"n":9007199254740993}"#),
            ("a", "-9223372036854775809"),
        ])
    );
}

/// Issue 13: a file of LogStream's own records (the API's NDJSON) is sent
/// with the same attributes, not one attribute holding their JSON text.
#[test]
fn json_members_of_an_attributes_object_are_attributes() {
    let r = one(
        r#"{"timestamp":"2026-11-27T12:00:00Z","service":"api","level":"WARN","message":"m","attributes":{"region":"eu","user_id":"7","n":3},"region":"top"}"#,
    );
    assert_eq!(r.service, "api");
    assert_eq!(
        r.attributes,
        attrs(&[("region", "eu"), ("user_id", "7"), ("n", "3")])
    );
    let r = one(r#"{"message":"m","attributes":"plain"}"#);
    assert_eq!(r.attributes, attrs(&[("attributes", "plain")]));
}

#[test]
fn json_epoch_times_in_every_unit_and_numeric_levels() {
    for (ts, level, expect) in [
        ("1764244800", "30", Level::Info),
        ("1764244800000", "50", Level::Error),
        ("1764244800000000", "3", Level::Error),
        ("1764244800000000000", "4", Level::Warn),
        ("\"1764244800\"", "60", Level::Fatal),
    ] {
        let r = one(&format!(r#"{{"ts":{ts},"level":{level},"msg":"m"}}"#));
        assert_eq!(r.timestamp, at("2025-11-27T12:00:00Z"), "{ts}");
        assert_eq!(r.level, expect, "{level}");
        assert!(r.attributes.is_empty());
    }
    // A zone-less time is in --timezone.
    let settings = Settings {
        timezone: "+02:00".parse().unwrap(),
        ..Settings::default()
    };
    let r = records_with(settings, r#"{"time":"2026-11-27 12:00:01,250","msg":"m"}"#);
    assert_eq!(r[0].timestamp, at("2026-11-27T10:00:01.250Z"));
}

#[test]
fn json_fields_the_daemon_would_reject_are_kept_as_attributes() {
    let r = one(r#"{"level":"loud","message":"m","timestamp":"whenever","lvl":"info"}"#);
    assert_eq!(r.level, Level::Info);
    assert_eq!(r.timestamp, now());
    assert_eq!(
        r.attributes,
        attrs(&[
            ("level", "loud"),
            ("lvl", "info"),
            ("timestamp", "whenever")
        ])
    );
}

#[test]
fn json_without_a_message_is_the_whole_line() {
    let line = r#"{"event":"started","level":"warn"}"#;
    let r = one(line);
    assert_eq!((r.message.as_str(), r.level), (line, Level::Warn));
    assert_eq!(r.attributes, attrs(&[("event", "started")]));
    assert_eq!(one("{not json").message, "{not json");
}

#[test]
fn json_lines_the_daemon_would_refuse_are_sent_as_text() {
    for line in [
        r#"{"msg":"   ","level":"error"}"#.to_string(),
        format!(r#"{{"msg":"m","stack":"{}"}}"#, "x".repeat(10_000)),
        r#"{"msg":"m","":"empty key"}"#.to_string(),
    ] {
        let r = one(&line);
        assert_eq!(r.message, line);
        assert!(r.attributes.is_empty());
    }
    let many: Vec<String> = (0..=MAX_ATTRIBUTES)
        .map(|i| format!(r#""k{i}":1"#))
        .collect();
    let line = format!(r#"{{"msg":"m",{}}}"#, many.join(","));
    assert_eq!(one(&line).message, line);
}

#[test]
fn a_service_too_long_for_a_record_stays_an_attribute() {
    let long = "s".repeat(200);
    let r = one(&format!(r#"{{"msg":"m","service":"{long}"}}"#));
    assert_eq!(r.service, "unknown");
    assert_eq!(r.attributes["service"], long);
}

// ---- logfmt ----

#[test]
fn logfmt_lines() {
    let r = one(
        r#"time=2026-11-27T12:00:01Z level=warn msg="disk \"sda\" almost full" user=42 path=/var empty="#,
    );
    assert_eq!(
        fields(&r),
        (
            "2026-11-27T12:00:01+00:00".into(),
            Level::Warn,
            "unknown",
            None,
            "disk \"sda\" almost full"
        )
    );
    assert_eq!(
        r.attributes,
        attrs(&[("user", "42"), ("path", "/var"), ("empty", "")])
    );
    let r = one("ts=1764244800123 lvl=debug service=billing host=h2 action=charge");
    assert_eq!(
        fields(&r),
        (
            "2025-11-27T12:00:00.123+00:00".into(),
            Level::Debug,
            "billing",
            Some("h2"),
            "ts=1764244800123 lvl=debug service=billing host=h2 action=charge"
        )
    );
    assert_eq!(r.attributes, attrs(&[("action", "charge")]));
}

#[test]
fn text_that_only_looks_like_logfmt_is_text() {
    for line in [
        "x=1",
        "a=1 but then words",
        r#"msg="unterminated"#,
        "1=2 3=4",
        "cost = 3",
    ] {
        let r = one(line);
        assert_eq!(
            (r.message.as_str(), r.attributes.len()),
            (line, 0),
            "{line}"
        );
    }
    // Forced, one pair is enough.
    let settings = Settings {
        format: Format::Logfmt,
        ..utc()
    };
    let r = records_with(settings, "x=1\nnot logfmt");
    assert_eq!(r[0].attributes, attrs(&[("x", "1")]));
    assert_eq!(r[1].message, "not logfmt");
}

// ---- syslog ----

#[test]
fn syslog_rfc3164() {
    let r = one("Nov 27 12:00:01 web-1 sshd[4242]: Accepted publickey for ann");
    assert_eq!(
        fields(&r),
        (
            "2026-11-27T12:00:01+00:00".into(),
            Level::Info,
            "sshd",
            Some("web-1"),
            "Accepted publickey for ann"
        )
    );
    assert_eq!(r.attributes, attrs(&[("pid", "4242")]));

    let r = one("<11>Nov  3 08:15:00 db kernel: disk failure on sda");
    assert_eq!(
        fields(&r),
        (
            "2026-11-03T08:15:00+00:00".into(),
            Level::Error,
            "kernel",
            Some("db"),
            "disk failure on sda"
        )
    );
    // journalctl -o short-iso.
    let r = one("2026-11-27T13:00:01+0100 web-2 systemd[1]: Started x.");
    assert_eq!(
        (
            r.timestamp,
            r.service.as_str(),
            r.host.as_deref(),
            r.message.as_str()
        ),
        (
            at("2026-11-27T12:00:01Z"),
            "systemd",
            Some("web-2"),
            "Started x."
        )
    );
    // rsyslog's precise time, with the [pid] that tells it from text.
    let r = one("2026-11-27T12:00:01.5+01:00 web-2 app[7]: started");
    assert_eq!(
        fields(&r),
        (
            "2026-11-27T11:00:01.500+00:00".into(),
            Level::Info,
            "app",
            Some("web-2"),
            "started"
        )
    );
}

#[test]
fn syslog_without_a_year_is_this_year_unless_that_is_ahead() {
    // now() is 2026-11-27T13:00:00Z.
    assert_eq!(
        one("Nov 28 12:00:00 h app: a day ahead at most").timestamp,
        at("2026-11-28T12:00:00Z")
    );
    assert_eq!(
        one("Dec 31 23:59:59 h app: last new year's eve").timestamp,
        at("2025-12-31T23:59:59Z")
    );
    let settings = Settings {
        timezone: "-05:00".parse().unwrap(),
        ..Settings::default()
    };
    let r = records_with(settings, "Nov 27 07:00:00 h app: in New York");
    assert_eq!(r[0].timestamp, at("2026-11-27T12:00:00Z"));
}

#[test]
fn syslog_rfc5424() {
    let r = one(
        r#"<34>1 2026-11-27T12:00:01.250Z mymachine.example.com su 4242 ID47 [exampleSDID@32473 iut="3" eventSource="Application \"x\""][meta ip="10.0.0.1"] 'su root' failed for lonvick"#,
    );
    assert_eq!(
        fields(&r),
        (
            "2026-11-27T12:00:01.250+00:00".into(),
            Level::Fatal,
            "su",
            Some("mymachine.example.com"),
            "'su root' failed for lonvick"
        )
    );
    assert_eq!(
        r.attributes,
        attrs(&[
            ("pid", "4242"),
            ("msgid", "ID47"),
            ("iut", "3"),
            ("eventSource", "Application \"x\""),
            ("ip", "10.0.0.1"),
        ])
    );
    let r = one("<165>1 - - - - - - \u{feff}only a message");
    assert_eq!(
        fields(&r),
        (
            now().to_rfc3339(),
            Level::Info,
            "unknown",
            None,
            "only a message"
        )
    );
    assert!(r.attributes.is_empty());
}

#[test]
fn syslog_gives_the_priority_and_the_fields() {
    let cx = Context {
        zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        now: now(),
    };
    let m = syslog(
        r#"<11>1 2026-11-27T12:00:01.253067+00:00 vm app 123 ID [x@32473 a="b"] message here"#,
        cx,
    )
    .unwrap();
    assert_eq!((m.facility, m.severity), (1, 3));
    assert_eq!(facility_name(m.facility), Some("user"));
    assert_eq!(m.parsed.level, Some(Level::Error));
    assert_eq!(m.parsed.service.as_deref(), Some("app"));
    assert_eq!(m.parsed.host.as_deref(), Some("vm"));
    assert_eq!(m.parsed.timestamp, Some(at("2026-11-27T12:00:01.253067Z")));
    assert_eq!(
        m.parsed.attributes,
        attrs(&[("pid", "123"), ("msgid", "ID"), ("a", "b")])
    );
    assert_eq!(m.parsed.message, "message here");

    let m = syslog("<134>Nov 27 12:00:01 web-1 nginx: GET /", cx).unwrap();
    assert_eq!((m.facility, m.severity), (16, 6));
    assert_eq!(facility_name(m.facility), Some("local0"));
    assert_eq!(m.parsed.service.as_deref(), Some("nginx"));

    // rsyslog forwarding an RFC 3164 message as RFC 5424.
    let m = syslog(
        "<156>1 2026-12-01T21:17:50+00:00 vm app 123 - -  via rsyslog",
        cx,
    )
    .unwrap();
    assert_eq!(m.parsed.message, "via rsyslog");

    assert_eq!(syslog("no priority", cx), None);
    assert_eq!(facility_name(24), None);
}

#[test]
fn syslog_priority_and_tag_without_a_header() {
    // Python's SysLogHandler with an ident: no time, no host.
    let r = one("<155>pyapp[42]: cache miss");
    assert_eq!(
        fields(&r),
        (
            now().to_rfc3339(),
            Level::Error,
            "pyapp",
            None,
            "cache miss"
        )
    );
    assert_eq!(r.attributes, attrs(&[("pid", "42")]));
    // A priority and a message that has no tag.
    let r = one("<14>just words here");
    assert_eq!(
        (r.service.as_str(), r.message.as_str()),
        ("unknown", "just words here")
    );
}

// ---- timestamped text ----

#[test]
fn log4j_lines() {
    let r = one("2026-11-27 12:00:01,123 ERROR [main] com.example.App - request failed");
    assert_eq!(
        fields(&r),
        (
            "2026-11-27T12:00:01.123+00:00".into(),
            Level::Error,
            "unknown",
            None,
            "request failed"
        )
    );
    assert_eq!(
        r.attributes,
        attrs(&[("logger", "com.example.App"), ("thread", "main")])
    );
    // log4j's default layout: thread first, padded level.
    let r = one("2026-11-27 12:00:01,123 [pool-1-thread-2] WARN  org.Foo - slow");
    assert_eq!((r.level, r.message.as_str()), (Level::Warn, "slow"));
    assert_eq!(r.attributes["thread"], "pool-1-thread-2");
}

#[test]
fn timestamped_text_layouts() {
    let cases = [
        (
            "2026-11-27T12:00:05Z INFO [api] user logged in",
            (
                "2026-11-27T12:00:05+00:00",
                Level::Info,
                "api",
                "user logged in",
            ),
        ),
        (
            "[2026-11-27 12:00:05.5] [warn] low memory",
            (
                "2026-11-27T12:00:05.500+00:00",
                Level::Warn,
                "unknown",
                "low memory",
            ),
        ),
        (
            "2026/11/27 12:00:05 listening on :8080",
            (
                "2026-11-27T12:00:05+00:00",
                Level::Info,
                "unknown",
                "listening on :8080",
            ),
        ),
        (
            "2026-11-27 12:00:00,123 ERROR db: connection refused",
            (
                "2026-11-27T12:00:00.123+00:00",
                Level::Error,
                "unknown",
                "db: connection refused",
            ),
        ),
        (
            "2026-11-27 12:00:06,250 - jobs - ERROR - division failed",
            (
                "2026-11-27T12:00:06.250+00:00",
                Level::Error,
                "unknown",
                "division failed",
            ),
        ),
        (
            "2026-11-27T12:00:05+02:00 something happened, error 5",
            (
                "2026-11-27T10:00:05+00:00",
                Level::Error,
                "unknown",
                "something happened, error 5",
            ),
        ),
        (
            "2026-11-27T12:00:05Z Alert sent to ann",
            (
                "2026-11-27T12:00:05+00:00",
                Level::Info,
                "unknown",
                "Alert sent to ann",
            ),
        ),
    ];
    for (line, (time, level, service, message)) in cases {
        let r = one(line);
        assert_eq!(
            (r.timestamp, r.level, r.service.as_str(), r.message.as_str()),
            (at(time), level, service, message),
            "{line}"
        );
    }
    let r = one("2026-11-27T12:00:05Z WARN level=error msg=\"from logfmt\" user=7");
    assert_eq!(
        (r.level, r.message.as_str(), r.attributes.clone()),
        (Level::Warn, "from logfmt", attrs(&[("user", "7")]))
    );
    // Only the timestamp: the whole line is the message.
    assert_eq!(one("2026-11-27T12:00:05Z").message, "2026-11-27T12:00:05Z");
}

#[test]
fn zone_less_times_are_in_the_chosen_zone() {
    let settings = Settings {
        timezone: "+0530".parse().unwrap(),
        ..Settings::default()
    };
    let r = records_with(settings, "2026-11-27 12:00:00 INFO hi");
    assert_eq!(r[0].timestamp, at("2026-11-27T06:30:00Z"));
    assert!("Europe/Berlin".parse::<Zone>().unwrap_err().contains("TZ="));
    assert_eq!("utc".parse::<Zone>(), Ok(utc().timezone));
    assert_eq!("local".parse::<Zone>(), Ok(Zone::Local));
}

// ---- plain text, garbage ----

#[test]
fn plain_lines_take_a_level_word_near_the_start() {
    assert_eq!(one("[warn] disk almost full").level, Level::Warn);
    assert_eq!(one("W: Warning: low memory").level, Level::Warn);
    assert_eq!(one("user logged in").level, Level::Info);
    let far = one("one two three four five six seven error");
    assert_eq!(far.level, Level::Info, "only the first words count");
    let r = one("FATAL out of memory");
    assert_eq!(
        fields(&r),
        (
            now().to_rfc3339(),
            Level::Fatal,
            "unknown",
            None,
            "FATAL out of memory"
        )
    );
}

#[test]
fn garbage_is_sent_as_it_is() {
    for line in [
        "\u{1b}[31m\u{0}binary\u{7f} ☃ {\"",
        "<999>not a priority",
        "Nov 99 12:00:00 nope",
        "2026-13-45 25:61:00 not a time",
        "}{][",
        "<12>",
    ] {
        let r = one(line);
        assert_eq!(r.message, line, "{line}");
        assert!(r.attributes.is_empty(), "{line}");
    }
}

#[test]
fn blank_lines_are_skipped_and_huge_lines_truncated_with_a_note() {
    assert!(records("   \n\n").is_empty());
    let r = one(&"é".repeat(MAX_MESSAGE_LEN));
    assert!(r.message.len() <= MAX_MESSAGE_LEN);
    assert_eq!(
        r.attributes[TRUNCATED],
        (2 * MAX_MESSAGE_LEN - r.message.len()).to_string()
    );
}

// ---- multi-line ----

#[test]
fn a_java_stack_trace_is_one_record() {
    let r = records(include_str!("../tests/fixtures/java.log"));
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!(
        fields(&r[0]),
        (
            "2026-11-27T12:00:04.123+00:00".into(),
            Level::Error,
            "unknown",
            None,
            "request failed\n\
             java.lang.IllegalStateException: boom\n\
             \tat com.example.App.handle(App.java:42)\n\
             \tat com.example.App.main(App.java:10)\n\
             Caused by: java.io.IOException: disk gone\n\
             \tat com.example.Disk.read(Disk.java:7)\n\
             \t... 1 more"
        )
    );
    assert_eq!(
        r[0].attributes,
        attrs(&[("logger", "com.example.App"), ("thread", "main")])
    );
    assert_eq!(
        (r[1].level, r[1].message.as_str()),
        (Level::Info, "recovered")
    );

    // An uncaught one, printed by the JVM.
    let r = records(
        "Exception in thread \"main\" java.lang.RuntimeException: x\n\tat A.b(A.java:1)\nnext",
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].level, Level::Error);
    assert_eq!(r[1].message, "next");
}

#[test]
fn a_python_traceback_is_one_record() {
    let r = records(include_str!("../tests/fixtures/python.log"));
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!(r[0].level, Level::Error);
    assert_eq!(r[0].timestamp, at("2026-11-27T12:00:06.250Z"));
    assert_eq!(
        r[0].message,
        "division failed\n\
         Traceback (most recent call last):\n  File \"job.py\", line 3, in <module>\n    1 / 0\n\
         ZeroDivisionError: division by zero\n\n\
         During handling of the above exception, another exception occurred:\n\n\
         Traceback (most recent call last):\n  File \"job.py\", line 5, in <module>\n    \
         raise ValueError(\"bad input\")\n\
         ValueError: bad input"
    );
    assert_eq!(r[0].attributes, attrs(&[("logger", "jobs")]));
    assert_eq!(r[1].message, "next job");

    // A traceback on its own; its end is the exception line.
    let r = records(
        "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'k'\nNot: part of it",
    );
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!(r[0].level, Level::Error);
    assert!(r[0].message.ends_with("KeyError: 'k'"));
    assert_eq!(r[1].message, "Not: part of it");
}

#[test]
fn indented_lines_continue_and_blank_lines_between_records_are_dropped() {
    let r = records("{\"msg\":\"config\",\"level\":\"debug\"}\n  a = 1\n\n\tb = 2\n\nnext\n\n");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].message, "config\n  a = 1\n\n\tb = 2");
    assert_eq!(r[0].level, Level::Debug);
    assert_eq!(r[1].message, "next");
    // An indented first line is a record of its own.
    assert_eq!(records("  lonely\nnext").len(), 2);
}

#[test]
fn raw_sends_every_line_as_it_is() {
    let settings = Settings {
        format: Format::Raw,
        ..utc()
    };
    let r = records_with(
        settings,
        "{\"msg\":\"m\"}\n\tat x\n2026-11-27T12:00:05Z ERROR e\n\n",
    );
    let messages: Vec<_> = r.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        messages,
        ["{\"msg\":\"m\"}", "\tat x", "2026-11-27T12:00:05Z ERROR e"]
    );
    assert!(r.iter().all(|r| r.timestamp == now()));
    assert_eq!(r[2].level, Level::Error);
}

#[test]
fn forced_formats_send_other_lines_as_plain_messages() {
    let json = Settings {
        format: Format::Json,
        ..utc()
    };
    let r = records_with(json, "level=warn msg=x\n{\"msg\":\"j\"}");
    assert_eq!(r[0].message, "level=warn msg=x");
    assert!(r[0].attributes.is_empty());
    assert_eq!(r[1].message, "j");
    let text = Settings {
        format: Format::Text,
        ..utc()
    };
    let r = records_with(text, "{\"msg\":\"j\"}");
    assert_eq!(r[0].message, "{\"msg\":\"j\"}");
}

#[test]
fn a_multi_line_record_too_long_for_one_goes_on_in_another() {
    let frame = format!("\tat {}", "x".repeat(1000));
    let input = format!("ERROR boom\n{}", vec![frame.as_str(); 100].join("\n"));
    let r = records(&input);
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|r| r.level == Level::Error));
    let joined = format!("{}\n{}", r[0].message, r[1].message);
    assert_eq!(joined, input);
}

#[test]
fn pending_records_wait_for_the_next_line_or_a_flush() {
    let mut assembler = Assembler::new(utc());
    assert!(assembler.push_at("first", now()).is_empty());
    assert!(assembler.has_pending());
    assert_eq!(assembler.flush_idle()[0].message, "first");
    assert!(!assembler.has_pending());
    assert!(assembler.push_at("second", now()).is_empty());
    assert_eq!(assembler.push_at("third", now())[0].message, "second");
    assert_eq!(assembler.finish()[0].message, "third");
    assert!(assembler.finish().is_empty());
}

// ---- flags ----

#[test]
fn flags_win_and_keep_a_line_s_own_service_and_host_as_attributes() {
    let settings = Settings {
        service: Some("api".into()),
        host: Some("h1".into()),
        attributes: attrs(&[("env", "prod"), ("user", "flag")]),
        ..utc()
    };
    let r = records_with(
        settings,
        "Nov 27 12:00:01 web-1 sshd[1]: hi\n{\"msg\":\"m\",\"service\":\"api\",\"user\":\"line\"}\nplain",
    );
    assert_eq!(
        (r[0].service.as_str(), r[0].host.as_deref()),
        ("api", Some("h1"))
    );
    assert_eq!(
        r[0].attributes,
        attrs(&[
            ("env", "prod"),
            ("host", "web-1"),
            ("pid", "1"),
            ("service", "sshd"),
            ("user", "flag")
        ])
    );
    assert_eq!(r[1].attributes, attrs(&[("env", "prod"), ("user", "flag")]));
    assert_eq!(r[2].attributes, attrs(&[("env", "prod"), ("user", "flag")]));
    assert_eq!(
        (r[2].service.as_str(), r[2].host.as_deref()),
        ("api", Some("h1"))
    );
}

#[test]
fn flag_values_are_checked() {
    let bad = |settings: Settings| settings.check().unwrap_err();
    assert!(
        bad(Settings {
            service: Some(" ".into()),
            ..Settings::default()
        })
        .starts_with("--service:")
    );
    assert!(
        bad(Settings {
            host: Some("a\nb".into()),
            ..Settings::default()
        })
        .starts_with("--host:")
    );
    let many = (0..MAX_ATTRIBUTES).map(|i| (format!("k{i}"), "v".to_string()));
    assert!(
        bad(Settings {
            attributes: many.collect(),
            ..Settings::default()
        })
        .starts_with("--attr:")
    );
    assert_eq!(attribute_flag("a=b=c"), Ok(("a".into(), "b=c".into())));
    assert!(attribute_flag("novalue").is_err());
    assert!(attribute_flag("=v").is_err());
}

// ---- the catalogue ----

#[test]
fn formats_are_named_by_layout_or_alias() {
    assert_eq!("auto".parse::<Format>(), Ok(Format::Auto));
    assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
    let nginx: Format = "nginx-access".parse().unwrap();
    assert_eq!(nginx.name(), "access-log");
    assert!(
        "nope"
            .parse::<Format>()
            .unwrap_err()
            .contains("lsctl formats")
    );
    let names: Vec<&str> = Format::all().map(Format::name).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
}

#[test]
fn recognise_gives_the_time_and_level_a_message_carries() {
    let cx = Context {
        zone: utc().timezone,
        now: now(),
    };
    let line = "03-17 16:13:38.811  1702  2395 E ActivityManager: ANR in com.example";
    assert_eq!(
        recognise(line, cx),
        Some((Some(at("2026-03-17T16:13:38.811Z")), Some(Level::Error)))
    );
    assert_eq!(
        recognise("WARN disk almost full", cx),
        Some((None, Some(Level::Warn)))
    );
    assert_eq!(recognise("user logged in", cx), None);
}

#[test]
fn the_layout_of_the_previous_line_is_tried_first_and_forgotten_between_inputs() {
    let mut assembler = Assembler::new(utc());
    assembler.push_at("I1127 12:00:01.123456   1 main.go:9] started", now());
    assert_eq!(assembler.layout().map(|l| l.name), Some("klog"));
    assembler.push_at("plain words", now());
    assert_eq!(
        assembler.layout().map(|l| l.name),
        Some("klog"),
        "kept over a plain line"
    );
    assembler.finish();
    assert_eq!(assembler.layout(), None);
}

#[test]
fn a_number_further_in_a_plain_line_is_not_taken_for_a_time() {
    let r = one("order 1795780801 failed: card declined");
    assert_eq!((r.timestamp, r.level), (now(), Level::Info));
    assert_eq!(
        one("1795780801 worker-2 WARN queue full").timestamp,
        at("2026-11-27T12:00:01Z")
    );
}
