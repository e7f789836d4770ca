//! `lsctl query` and `lsctl tail` output formats, columns, paging, order and
//! filters, end to end against a real daemon; every format is read back with
//! a standard parser.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use logstream_shared::LogRecord;
use logstream_testkit::{TestDaemon, fetch_all, lsctl};
use serde_json::{Value, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Stores `records` (JSON objects as the API takes them), in batches.
fn ingest(daemon: &TestDaemon, records: &[Value]) {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        for batch in records.chunks(5_000) {
            let response = client
                .post(daemon.at("/api/ingest"))
                .json(batch)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{response:?}");
        }
    });
}

fn stored(daemon: &TestDaemon, q: &str) -> Vec<LogRecord> {
    runtime().block_on(fetch_all(&reqwest::Client::new(), daemon, q))
}

/// `lsctl ARGS`, which must succeed; its stdout.
fn run(daemon: &TestDaemon, args: &[&str]) -> String {
    let output = lsctl(daemon).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "lsctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `lsctl ARGS`'s exit code and stderr.
fn fails(daemon: &TestDaemon, args: &[&str]) -> (Option<i32>, String) {
    let output = lsctl(daemon).args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A small logfmt reader: `key=value` pairs, values bare or quoted with
/// `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX` escapes.
fn parse_logfmt(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return pairs;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        assert_eq!(chars.next(), Some('='), "no = after {key:?} in {line:?}");
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next().expect("unterminated quote") {
                    '"' => break,
                    '\\' => match chars.next().unwrap() {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        'u' => {
                            let hex: String = chars.by_ref().take(4).collect();
                            value.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                            );
                        }
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (headers, rows)
}

/// `text` with its control characters as Rust escapes, as lsctl prints them.
fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Three records whose messages and attributes need quoting in every format.
fn awkward_records() -> Vec<Value> {
    vec![
        json!({"service": "api", "level": "INFO", "message": "started",
               "timestamp": "2024-05-01T12:00:00Z", "host": "h1",
               "attributes": {"user_id": "7"}}),
        json!({"service": "db", "level": "ERROR", "message": "disk \"sda\" full, a=b",
               "timestamp": "2024-05-01T12:00:01.250Z", "host": "h 2",
               "attributes": {"region": "eu west"}}),
        json!({"service": "api", "level": "WARN", "message": "slow\nsecond line\tand a \\ backslash",
               "timestamp": "2024-05-01T12:00:02Z", "trace_id": "t1",
               "attributes": {"user_id": "42", "note": "x=y \"q\"", "empty": ""}}),
    ]
}

#[test]
fn every_format_parses_back_and_fields_choose_columns() {
    let daemon = TestDaemon::start();
    ingest(&daemon, &awkward_records());
    let expected = stored(&daemon, "");
    assert_eq!(expected.len(), 3);
    let messages: Vec<&str> = expected.iter().map(|r| r.message.as_str()).collect();

    // JSON and NDJSON: the records as the API has them.
    let json: Vec<LogRecord> =
        serde_json::from_str(&run(&daemon, &["query", "-o", "json"])).unwrap();
    assert_eq!(json, expected);
    let ndjson: Vec<LogRecord> = run(&daemon, &["query", "-o", "ndjson"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ndjson, expected);

    // CSV: a header row, then every field; attributes as a JSON object.
    let (headers, rows) = csv_rows(&run(&daemon, &["query", "-o", "csv"]));
    assert_eq!(
        headers,
        [
            "time",
            "level",
            "service",
            "host",
            "message",
            "trace_id",
            "span_id",
            "id",
            "attributes"
        ]
    );
    assert_eq!(rows.len(), 3);
    for (row, record) in rows.iter().zip(&expected) {
        let time: chrono::DateTime<chrono::Utc> = row[0].parse().unwrap();
        assert_eq!(time, record.timestamp);
        assert_eq!(row[1], record.level.as_str());
        assert_eq!(row[2], record.service);
        assert_eq!(row[3], record.host.clone().unwrap_or_default());
        assert_eq!(row[4], escaped(&record.message));
        assert_eq!(row[5], record.trace_id.clone().unwrap_or_default());
        assert_eq!(row[7], record.id);
        let attributes: BTreeMap<String, String> = serde_json::from_str(&row[8]).unwrap();
        assert_eq!(attributes, record.attributes);
    }
    let (headers, rows) = csv_rows(&run(
        &daemon,
        &[
            "query",
            "-o",
            "csv",
            "--fields",
            "time,level,service,message,host,attr.user_id",
        ],
    ));
    assert_eq!(
        headers,
        [
            "time",
            "level",
            "service",
            "message",
            "host",
            "attr.user_id"
        ]
    );
    assert_eq!(
        rows[0][1..],
        ["WARN", "api", &escaped(messages[0]), "", "42"].map(String::from)
    );
    assert_eq!(
        rows[1][1..],
        ["ERROR", "db", messages[1], "h 2", ""].map(String::from)
    );
    assert_eq!(rows[2][0], "2024-05-01T12:00:00Z");

    // logfmt: the usual keys, absent ones left out, attributes as their own keys.
    let logfmt = run(&daemon, &["query", "-o", "logfmt"]);
    let lines: Vec<Vec<(String, String)>> = logfmt.lines().map(parse_logfmt).collect();
    assert_eq!(lines.len(), 3, "one line per record: {logfmt}");
    for (pairs, record) in lines.iter().zip(&expected) {
        let map: BTreeMap<&str, &str> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(map["msg"], record.message);
        assert_eq!(map["level"], record.level.as_str());
        assert_eq!(map["service"], record.service);
        assert_eq!(map.get("host").copied(), record.host.as_deref());
        assert_eq!(map.get("trace_id").copied(), record.trace_id.as_deref());
        for (key, value) in &record.attributes {
            assert_eq!(map[key.as_str()], value);
        }
    }
    assert_eq!(
        lines[0].iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [
            "time", "level", "service", "trace_id", "msg", "empty", "note", "user_id"
        ]
    );
    let chosen: Vec<Vec<(String, String)>> = run(
        &daemon,
        &[
            "query",
            "-o",
            "logfmt",
            "--fields",
            "service,message,attr.user_id",
        ],
    )
    .lines()
    .map(parse_logfmt)
    .collect();
    assert_eq!(
        chosen[1],
        [
            ("service".to_string(), "db".to_string()),
            ("message".into(), messages[1].into())
        ]
    );
    assert_eq!(chosen[2][2], ("attr.user_id".to_string(), "7".to_string()));

    // JSON with --fields: objects of just those keys, in that order.
    let ndjson = run(
        &daemon,
        &["query", "-o", "ndjson", "-f", "level,attr.user_id,host"],
    );
    let first = ndjson.lines().next().unwrap();
    assert_eq!(first, r#"{"level":"WARN","attr.user_id":"42","host":null}"#);
    let array: Vec<Value> = serde_json::from_str(&run(
        &daemon,
        &["query", "-o", "json", "-f", "message,attributes"],
    ))
    .unwrap();
    assert_eq!(
        array[1],
        json!({"message": messages[1], "attributes": {"region": "eu west"}})
    );

    // raw: the messages, one a line (control characters but tabs escaped).
    assert_eq!(
        run(&daemon, &["query", "-o", "raw"]),
        format!(
            "slow\\nsecond line\tand a \\ backslash\n{}\n{}\n",
            messages[1], messages[2]
        )
    );
    // Text with chosen columns: control characters escaped, absent values "-".
    assert_eq!(
        run(
            &daemon,
            &["query", "--fields", "level,service,host,message"]
        ),
        "WARN  api - slow\\nsecond line\\tand a \\ backslash\n\
         ERROR db  h 2 disk \"sda\" full, a=b\n\
         INFO  api h1 started\n"
    );

    let (code, stderr) = fails(&daemon, &["query", "-o", "raw", "--fields", "message"]);
    assert_eq!(code, Some(1), "{stderr}");
    let (code, stderr) = fails(&daemon, &["query", "--fields", "time,nope"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unknown field \"nope\""), "{stderr}");
}

#[test]
fn all_pages_past_the_server_limit_in_order_and_reverse_gives_oldest_first() {
    let daemon = TestDaemon::start();
    // Pairs of records share a timestamp, so ties are ordered by id too.
    let base: chrono::DateTime<chrono::Utc> = "2024-05-01T00:00:00Z".parse().unwrap();
    let records: Vec<Value> = (0..25_000)
        .map(|i| {
            let time = base + chrono::Duration::milliseconds(i / 2);
            json!({"service": "many", "message": format!("line {i}"), "timestamp": time})
        })
        .collect();
    ingest(&daemon, &records);
    let newest_first: Vec<String> = stored(&daemon, "").into_iter().map(|r| r.id).collect();
    assert_eq!(newest_first.len(), 25_000);
    let ids = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| serde_json::from_str::<LogRecord>(l).unwrap().id)
            .collect()
    };

    let all = ids(&run(&daemon, &["query", "--all", "-o", "ndjson"]));
    assert_eq!(all, newest_first, "each record once, newest first");

    let mut oldest_first = newest_first.clone();
    oldest_first.reverse();
    let reversed = ids(&run(
        &daemon,
        &["query", "--all", "--reverse", "-o", "ndjson"],
    ));
    assert_eq!(reversed, oldest_first, "each record once, oldest first");

    // Without --all, --reverse turns the newest --limit around.
    for limit in [5, 10_000, 15_000] {
        let mut expected = newest_first[..limit].to_vec();
        expected.reverse();
        let got = ids(&run(
            &daemon,
            &["query", "-r", "-n", &limit.to_string(), "-o", "ndjson"],
        ));
        assert_eq!(got, expected, "--reverse -n {limit}");
    }
    let raw = run(
        &daemon,
        &[
            "query",
            "--all",
            "-r",
            "-o",
            "raw",
            "--until",
            "2024-05-01T00:00:00.002Z",
        ],
    );
    let mut lines: Vec<&str> = raw.lines().collect();
    lines[..2].sort_unstable();
    lines[2..].sort_unstable();
    assert_eq!(lines, ["line 0", "line 1", "line 2", "line 3"]);

    // `| head -1` closes the pipe early: lsctl exits 0 and says nothing, in every format.
    for format in ["text", "json", "ndjson", "csv", "logfmt", "raw"] {
        let output = Command::new("bash")
            .arg("-o")
            .arg("pipefail")
            .arg("-c")
            .arg(format!(
                "'{}' query --all -o {format} | head -1",
                assert_cmd::cargo::cargo_bin("lsctl").display()
            ))
            .env("LOGSTREAM_URL", &daemon.url)
            .env("LSCTL_CONFIG", "/dev/null")
            .env_remove("LOGSTREAM_TOKEN")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "-o {format}: {:?} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stderr.is_empty(),
            "-o {format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).lines().count(),
            1,
            "-o {format}"
        );
    }
}

#[test]
fn flags_filter_by_level_host_attribute_text_and_time() {
    let daemon = TestDaemon::start();
    let record = |i: usize, level: &str, host: &str, attributes: Value| {
        json!({"service": "svc", "level": level, "host": host, "message": format!("message {i} timeout={}", i.is_multiple_of(2)),
               "timestamp": format!("2024-05-01T12:00:0{i}Z"), "attributes": attributes})
    };
    ingest(
        &daemon,
        &[
            record(0, "DEBUG", "h1", json!({"user_id": "42", "region": "eu"})),
            record(1, "INFO", "h2", json!({"user_id": "42", "region": "us"})),
            record(2, "WARN", "h1", json!({"user_id": "7", "region": "eu"})),
            record(3, "ERROR", "h3", json!({"user_id": "42", "region": "eu"})),
            record(4, "FATAL", "h2", json!({})),
            // Stored now, for relative times.
            json!({"service": "svc", "message": "just now", "host": "h1"}),
        ],
    );
    let messages = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["query", "-o", "raw", "--reverse"];
        all.extend_from_slice(args);
        run(&daemon, &all).lines().map(String::from).collect()
    };
    let numbers = |args: &[&str]| -> Vec<String> {
        messages(args)
            .iter()
            .map(|m| m.split(' ').nth(1).unwrap().to_string())
            .collect()
    };
    assert_eq!(numbers(&["--min-level", "warn"]), ["2", "3", "4"]);
    assert_eq!(numbers(&["--min-level", "ERROR", "--host", "h2"]), ["4"]);
    assert_eq!(numbers(&["--host", "h2,h3"]), ["1", "3", "4"]);
    assert_eq!(numbers(&["--host", "h3", "--host", "h2"]), ["1", "3", "4"]);
    assert_eq!(numbers(&["--attr", "user_id=42"]), ["0", "1", "3"]);
    assert_eq!(
        numbers(&["--attr", "user_id=42", "--attr", "region=eu"]),
        ["0", "3"]
    );
    assert_eq!(numbers(&["--text", "TIMEOUT=true"]), ["0", "2", "4"]);
    assert_eq!(numbers(&["--level", "info", "--text", "message"]), ["1"]);
    assert_eq!(
        numbers(&[
            "--since",
            "2024-05-01T12:00:01Z",
            "--until",
            "2024-05-01T12:00:03Z"
        ]),
        ["1", "2"]
    );
    assert_eq!(numbers(&["--attr", "region=eu", "level>=info"]), ["2", "3"]);
    assert_eq!(messages(&["--since", "1h"]), ["just now"]);
    assert_eq!(
        messages(&["--until", "1h", "--min-level", "fatal"]),
        ["message 4 timeout=true"]
    );

    for (args, says) in [
        (&["--min-level", "loud"][..], "--min-level"),
        (&["--attr", "user_id"], "KEY=VALUE"),
        (&["--attr", "=h1"], "cannot be an attribute key"),
        (&["--attr", "a b=c"], "cannot be an attribute key"),
        (&["--host", ""], "--host"),
        (&["--text", ""], "--text"),
        (&["--all", "--limit", "5"], "cannot be used with"),
    ] {
        let mut all = vec!["query"];
        all.extend_from_slice(args);
        let (code, stderr) = fails(&daemon, &all);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn tail_prints_the_same_formats_and_columns() {
    let daemon = TestDaemon::start();
    ingest(
        &daemon,
        &[
            json!({"service": "api", "level": "WARN", "message": "one, \"quoted\"", "host": "h1", "attributes": {"user_id": "42"}}),
            json!({"service": "api", "level": "ERROR", "message": "two words", "attributes": {"user_id": "7"}}),
        ],
    );
    let tail = |args: &[&str]| -> String {
        let mut all = vec!["tail", "--since", "1h", "--count", args[0]];
        all.extend_from_slice(&args[1..]);
        run(&daemon, &all)
    };
    let (headers, rows) = csv_rows(&tail(&[
        "2",
        "-o",
        "csv",
        "--fields",
        "level,message,attr.user_id",
    ]));
    assert_eq!(headers, ["level", "message", "attr.user_id"]);
    assert_eq!(
        rows,
        [
            ["WARN", "one, \"quoted\"", "42"],
            ["ERROR", "two words", "7"]
        ]
        .map(|r| r.map(String::from).to_vec())
    );
    let logfmt: Vec<Vec<(String, String)>> = tail(&["2", "-o", "logfmt"])
        .lines()
        .map(parse_logfmt)
        .collect();
    assert_eq!(
        logfmt[0].iter().find(|(k, _)| k == "msg").unwrap().1,
        "one, \"quoted\""
    );
    assert_eq!(
        logfmt[1].iter().find(|(k, _)| k == "user_id").unwrap().1,
        "7"
    );
    assert_eq!(tail(&["2", "-o", "raw"]), "one, \"quoted\"\ntwo words\n");
    let ndjson = tail(&["2", "-o", "ndjson", "-f", "message,host"]);
    assert_eq!(
        ndjson,
        "{\"message\":\"one, \\\"quoted\\\"\",\"host\":\"h1\"}\n{\"message\":\"two words\",\"host\":null}\n"
    );
    assert_eq!(
        tail(&["1", "-f", "level,message", "--attr", "user_id=7"]),
        "ERROR two words\n"
    );
    assert_eq!(
        tail(&[
            "1",
            "-f",
            "message,host",
            "--min-level",
            "warn",
            "--host",
            "h1"
        ]),
        "one, \"quoted\" h1\n"
    );
    let (code, _) = fails(&daemon, &["tail", "-o", "raw", "-f", "message"]);
    assert_eq!(code, Some(1));
}

/// `lsctl tail … | head -1` ends lsctl quietly with 0 once the pipe closes.
#[test]
fn tail_into_a_closed_pipe_exits_0_quietly() {
    let daemon = TestDaemon::start();
    let records: Vec<Value> = (0..20_000)
        .map(|i| json!({"service": "recent", "message": format!("recent line {i} with some padding to fill the pipe")}))
        .collect();
    ingest(&daemon, &records);
    for format in ["text", "ndjson", "csv", "logfmt", "raw"] {
        let mut child = lsctl(&daemon)
            .args(["tail", "--since", "1h", "-o", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "-o {format}");
        // The reader is gone: the pipe is closed.
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("-o {format}: still running with its pipe closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "-o {format}: {status:?} {stderr}");
        assert!(stderr.is_empty(), "-o {format}: {stderr}");
    }
}

/// `-o csv` and `-o raw` printed a message's or an attribute value's escape
/// sequences to the terminal as they were: every output but JSON escapes
/// control characters (raw keeps tabs), tables and facets too.
#[test]
fn control_characters_are_escaped_in_every_text_output() {
    let daemon = TestDaemon::start();
    ingest(
        &daemon,
        &[
            json!({"service": "api", "message": "clear\u{1b}[2J\ttab\rback\u{7}",
                 "attributes": {"k": "v\u{1b}]0;title\u{7}"}}),
        ],
    );
    let raw_controls = |text: &str| {
        text.chars()
            .filter(|c| c.is_control() && *c != '\n')
            .count()
    };
    for args in [
        &["query"][..],
        &["query", "-o", "csv"],
        &["query", "-o", "logfmt"],
        &["query", "--fields", "message,attr.k"],
        &["query", "-o", "csv", "--fields", "message,attributes"],
        &["query", "| top k"],
        &["query", "-o", "csv", "| top k"],
        &["query", "-o", "raw", "| top k"],
    ] {
        // Not a terminal: lsctl adds no styles of its own.
        let out = run(&daemon, args);
        assert!(
            out.contains("\\u{1b}") || out.contains("\\u001b"),
            "{args:?}: {out:?}"
        );
        assert_eq!(raw_controls(&out), 0, "{args:?}: {out:?}");
    }
    let raw = run(&daemon, &["query", "-o", "raw"]);
    assert_eq!(raw, "clear\\u{1b}[2J\ttab\\rback\\u{7}\n");
}
