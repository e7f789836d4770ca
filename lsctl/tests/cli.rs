//! `lsctl` end to end: the real binary against a real daemon.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use logstream_shared::{Level, LogRecord};
use logstream_testkit::{TestDaemon, fetch_all, lsctl};

fn send(daemon: &TestDaemon, args: &[&str], input: &str) -> std::process::Output {
    send_with(lsctl(daemon), args, input)
}

/// `command send ARGS` with `input` on stdin.
fn send_with(mut command: Command, args: &[&str], input: &str) -> std::process::Output {
    let mut child = command
        .arg("send")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

/// `lsctl send ARGS` reading from a pipe the test writes lines into.
fn spawn_send(daemon: &TestDaemon, args: &[&str]) -> (Child, ChildStdin) {
    let mut child = lsctl(daemon)
        .arg("send")
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// The lines `child` writes to its stderr, as they come; the channel
/// closes when the child closes its stderr.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Writes `count` lines `"{prefix} {i}"` and flushes them down the pipe.
fn write_lines(stdin: &mut ChildStdin, prefix: &str, count: usize) {
    for i in 0..count {
        writeln!(stdin, "{prefix} {i}").unwrap();
    }
    stdin.flush().unwrap();
}

fn stored(daemon: &TestDaemon, q: &str) -> Vec<LogRecord> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(fetch_all(&reqwest::Client::new(), daemon, q))
}

#[test]
fn piped_lines_are_all_delivered_with_levels_detected() {
    let daemon = TestDaemon::start();
    let mut input = String::new();
    for i in 0..100_000 {
        let level = ["INFO", "WARN", "ERROR", "debug"][i % 4];
        input.push_str(&format!("2024-05-01 12:00:00 {level} line {i}\n"));
    }
    input.push_str("\n\n{\"level\":\"fatal\",\"msg\":\"json line\",\"user\":\"ann\"}\n");
    let output = send(&daemon, &["--service", "api", "--host", "h1"], &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout.is_empty(),
        "nothing printed when all went well"
    );

    let records = stored(&daemon, "service:api");
    assert_eq!(
        records.len(),
        100_001,
        "blank lines are not records; every other line is"
    );
    let mut lines: Vec<usize> = records
        .iter()
        .filter_map(|r| r.message.rsplit_once("line ")?.1.parse().ok())
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        (0..100_000).collect::<Vec<_>>(),
        "each line exactly once"
    );
    let errors = records.iter().filter(|r| r.level == Level::Error).count();
    assert_eq!(errors, 25_000);
    assert!(records.iter().all(|r| r.host.as_deref() == Some("h1")));
    let json = records.iter().find(|r| r.message == "json line").unwrap();
    assert_eq!(
        (json.level, json.attributes["user"].as_str()),
        (Level::Fatal, "ann")
    );
}

#[test]
fn files_are_sent_in_order_and_a_missing_file_fails_before_sending() {
    let daemon = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, "first\nsecond\r\n").unwrap();
    std::fs::write(&b, "third").unwrap();
    let status = lsctl(&daemon)
        .args(["send", "-s", "files"])
        .arg(&a)
        .arg(&b)
        .status()
        .unwrap();
    assert!(status.success());
    let messages: Vec<String> = stored(&daemon, "service:files")
        .into_iter()
        .map(|r| r.message)
        .rev()
        .collect();
    assert_eq!(messages, ["first", "second", "third"]);

    let output = lsctl(&daemon)
        .args(["send", "-s", "files"])
        .arg(&a)
        .arg(dir.path().join("nope.log"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot open"),
        "{output:?}"
    );
    assert_eq!(
        stored(&daemon, "service:files").len(),
        3,
        "nothing more was sent"
    );
}

#[test]
fn a_line_from_a_live_pipe_arrives_within_about_a_second() {
    let daemon = TestDaemon::start();
    let started = Instant::now();
    let mut child = lsctl(&daemon)
        .args(["send", "-s", "live"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "ERROR live line").unwrap();
    stdin.flush().unwrap();
    // The pipe stays open, as with `tail -f`; only the flush interval (500 ms
    // by default) sends it. A second, and half a second more for starting
    // lsctl and for the queries that look on a busy machine.
    let arrived = loop {
        if !stored(&daemon, "service:live").is_empty() {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let arrived = arrived.expect("the line never arrived while the pipe was open");
    assert!(
        arrived < Duration::from_millis(1500),
        "the line took {arrived:?} to arrive"
    );
}

#[test]
fn send_retries_while_the_daemon_restarts_and_delivers_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = TestDaemon::start_in(dir.path(), &[]);
    let addr = daemon.addr().to_string();
    let (child, mut stdin) = spawn_send(&daemon, &["-s", "restart", "--flush-interval", "50ms"]);
    write_lines(&mut stdin, "before", 100);
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.terminate().success());
    write_lines(&mut stdin, "during", 100);
    std::thread::sleep(Duration::from_millis(700));
    let daemon = TestDaemon::start_in(dir.path(), &["--listen", &addr]);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("retrying"), "it had to retry: {stderr}");
    let mut messages: Vec<String> = stored(&daemon, "service:restart")
        .into_iter()
        .map(|r| r.message)
        .collect();
    messages.sort();
    let mut expected: Vec<String> = (0..100)
        .flat_map(|i| [format!("before {i}"), format!("during {i}")])
        .collect();
    expected.sort();
    assert_eq!(messages, expected);
}

#[test]
fn ctrl_c_delivers_what_was_read_and_exits_cleanly() {
    let daemon = TestDaemon::start();
    let (child, mut stdin) = spawn_send(&daemon, &["-s", "interrupted", "--flush-interval", "1h"]);
    write_lines(&mut stdin, "line", 10);
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stored(&daemon, "service:interrupted").len(), 10);
    drop(stdin);
}

#[test]
fn a_first_ctrl_c_while_retrying_still_delivers_and_a_second_abandons() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = TestDaemon::start_in(dir.path(), &[]);
    let addr = daemon.addr().to_string();
    assert!(daemon.terminate().success());

    let interrupt = |child: &Child| {
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    // The daemon is down: the first Ctrl-C comes once lsctl says it retries.
    let (mut child, mut stdin) =
        spawn_send(&daemon, &["-s", "patient", "--flush-interval", "50ms"]);
    let stderr = stderr_lines(&mut child);
    write_lines(&mut stdin, "line", 5);
    let mut before = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !before
        .iter()
        .any(|line: &String| line.contains("retrying in"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match stderr.recv_timeout(left) {
            Ok(line) => before.push(line),
            Err(_) => panic!("lsctl did not retry before the Ctrl-C: {before:?}"),
        }
    }
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    let daemon = TestDaemon::start_in(dir.path(), &["--listen", &addr]);
    let status = child.wait().unwrap();
    let after: Vec<String> = stderr.iter().collect();
    assert!(status.success(), "{before:?} {after:?}");
    assert!(
        before[0].contains("cannot reach the LogStream daemon"),
        "{before:?}"
    );
    assert_eq!(stored(&daemon, "service:patient").len(), 5);

    // With nobody listening, a second Ctrl-C abandons and counts the lines.
    let gone = format!("http://{addr}");
    let mut daemon = daemon;
    assert!(daemon.terminate().success());
    let mut command = lsctl(&daemon);
    command.env("LOGSTREAM_URL", &gone).args([
        "send",
        "-s",
        "impatient",
        "--flush-interval",
        "50ms",
        "--spool-max",
        "0",
    ]);
    let mut child = command
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    write_lines(&mut stdin, "line", 3);
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("3 line(s) were not delivered"), "{stderr}");
}

#[test]
fn send_gives_up_with_a_count_and_exit_code_2_when_the_daemon_stays_away() {
    let daemon = TestDaemon::start();
    let mut gone = lsctl(&daemon);
    gone.env("LOGSTREAM_URL", "http://127.0.0.1:9");
    let output = gone
        .args(["send", "-s", "x", "--retry-for", "1s", "--spool-max", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"one\ntwo\nthree\n")?;
            c.wait_with_output()
        });
    let output = output.unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 line(s) were not delivered"), "{stderr}");
    assert!(
        stderr.contains("cannot reach the LogStream daemon at http://127.0.0.1:9"),
        "{stderr}"
    );
}

#[test]
fn query_prints_aligned_text_json_and_ndjson() {
    let daemon = TestDaemon::start();
    let input = "{\"level\":\"error\",\"msg\":\"disk full\",\"time\":\"2024-05-01T12:00:01Z\",\"disk\":\"sda\"}\n\
                 {\"level\":\"info\",\"msg\":\"started\",\"time\":\"2024-05-01T12:00:00Z\"}\n";
    assert!(send(&daemon, &["-s", "db"], input).status.success());
    assert!(
        send(
            &daemon,
            &["-s", "user-service"],
            "{\"level\":\"warn\",\"msg\":\"slow\",\"time\":\"2024-05-01T12:00:02Z\"}\n"
        )
        .status
        .success()
    );

    let text = lsctl(&daemon).args(["query", "--utc"]).output().unwrap();
    assert!(text.status.success());
    assert_eq!(
        String::from_utf8(text.stdout).unwrap(),
        "2024-05-01 12:00:02.000 WARN  user-service slow\n\
         2024-05-01 12:00:01.000 ERROR db           disk full disk=sda\n\
         2024-05-01 12:00:00.000 INFO  db           started\n"
    );

    let json = lsctl(&daemon)
        .args(["query", "-o", "json", "--service", "db", "--level", "ERROR"])
        .output()
        .unwrap();
    let records: Vec<LogRecord> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].message, "disk full");

    let ndjson = lsctl(&daemon)
        .args(["query", "-o", "ndjson", "level>=warn"])
        .output()
        .unwrap();
    let lines: Vec<LogRecord> = String::from_utf8(ndjson.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        ["slow", "disk full"]
    );

    let empty = lsctl(&daemon)
        .args(["query", "-o", "json", "nothing-matches-this"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(empty.stdout).unwrap(), "[]\n");

    let since = lsctl(&daemon)
        .args([
            "query",
            "-o",
            "ndjson",
            "--since",
            "2024-05-01T12:00:01Z",
            "--until",
            "2024-05-01T12:00:02Z",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(since.stdout).unwrap().lines().count(), 1);
}

#[test]
fn query_pages_past_the_server_limit_and_survives_a_closed_pipe() {
    let daemon = TestDaemon::start();
    let input: String = (0..25_000).map(|i| format!("line {i}\n")).collect();
    assert!(send(&daemon, &["-s", "many"], &input).status.success());
    let all = lsctl(&daemon)
        .args(["query", "-o", "ndjson", "-n", "30000"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(all.stdout).unwrap().lines().count(),
        25_000
    );
    let some = lsctl(&daemon)
        .args(["query", "-n", "12345", "-o", "ndjson"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(some.stdout).unwrap().lines().count(),
        12_345
    );

    // With pipefail the status is lsctl's, not head's.
    let piped = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' query -n 25000 | head -n 1",
            assert_cmd::cargo::cargo_bin("lsctl").display()
        ))
        .env("LOGSTREAM_URL", &daemon.url)
        .output()
        .unwrap();
    assert!(piped.status.success(), "{:?}", piped.status);
    assert_eq!(String::from_utf8(piped.stdout).unwrap().lines().count(), 1);
    assert!(
        piped.stderr.is_empty(),
        "no broken-pipe error: {}",
        String::from_utf8_lossy(&piped.stderr)
    );
}

#[test]
fn mistakes_are_pointed_at_with_exit_code_1_and_an_unreachable_daemon_gets_3() {
    let daemon = TestDaemon::start();
    let output = lsctl(&daemon)
        .args(["query", "service:api", "level>=lod"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("column 20: unknown level \"lod\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("service:api level>=lod\n                   ^"),
        "{stderr}"
    );

    let output = lsctl(&daemon)
        .args(["query", "--since", "last week"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let output = lsctl(&daemon)
        .args(["send", "--service", ""])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let output = lsctl(&daemon)
        .args(["query", "--service", "api,"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--service: a service name must not be empty")
    );
    let output = lsctl(&daemon)
        .args(["send", "--service", "api", "--host", "a\tb"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--host"),
        "{output:?}"
    );
    let output = lsctl(&daemon)
        .args(["query", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));

    let output = lsctl(&daemon)
        .args(["--server", "http://127.0.0.1:9", "query"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the LogStream daemon"));
}

#[test]
fn stats_chart_the_rate_and_list_top_values() {
    let daemon = TestDaemon::start();
    let errors: String = (0..30).map(|i| format!("ERROR failed {i}\n")).collect();
    let infos: String = (0..10).map(|i| format!("INFO ok {i}\n")).collect();
    assert!(
        send(&daemon, &["-s", "api", "--host", "h1"], &errors)
            .status
            .success()
    );
    assert!(send(&daemon, &["-s", "web"], &infos).status.success());

    let text = lsctl(&daemon)
        .args(["stats", "--since", "10m"])
        .output()
        .unwrap();
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("40 logs from "), "{text}");
    assert!(text.contains('█'), "a bar for the busy minute: {text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
    };
    assert_eq!(line("api").as_deref(), Some("30"), "{text}");
    assert_eq!(line("web").as_deref(), Some("10"), "{text}");
    assert_eq!(line("ERROR").as_deref(), Some("30"), "{text}");
    assert_eq!(line("h1").as_deref(), Some("30"), "{text}");

    let json = lsctl(&daemon)
        .args([
            "stats",
            "--since",
            "10m",
            "--step",
            "1m",
            "-o",
            "json",
            "level>=error",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let total: u64 = report["histogram"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["total"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 30);
    assert_eq!(report["top"][0]["field"], "service");
    assert_eq!(
        report["top"][0]["values"][0],
        serde_json::json!({"value": "api", "count": 30})
    );

    let bad = lsctl(&daemon)
        .args(["stats", "--step", "1ms"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(1),
        "the daemon's 400 is a usage error"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at most 10000"));
}

const INGEST_TOKEN: &str = "lsctl-ingest-token-0001";
const READ_TOKEN: &str = "lsctl-read-token-00001";
const ADMIN_TOKEN: &str = "lsctl-admin-token-0001";

/// A daemon that needs one of the three tokens above.
fn guarded_daemon() -> TestDaemon {
    let tokens = format!("ingest:{INGEST_TOKEN},read:{READ_TOKEN},admin:{ADMIN_TOKEN}");
    TestDaemon::start_with_env(&[], &[("LOGSTREAM_TOKENS", &tokens)])
}

/// The messages `command query` finds, sorted.
fn stored_messages(command: &mut Command) -> Vec<String> {
    let output = command.args(["query", "-o", "ndjson"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut messages: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<LogRecord>(l).unwrap().message)
        .collect();
    messages.sort();
    messages
}

#[test]
fn send_and_query_take_a_token_from_the_flag_the_environment_or_the_config_file() {
    let daemon = guarded_daemon();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lsctl.toml");

    let mut by_flag = lsctl(&daemon);
    by_flag.args(["--token", INGEST_TOKEN]);
    let output = send_with(by_flag, &["-s", "auth"], "by flag\n");
    assert!(output.status.success(), "{output:?}");

    let mut by_env = lsctl(&daemon);
    by_env.env("LOGSTREAM_TOKEN", INGEST_TOKEN);
    let output = send_with(by_env, &["-s", "auth"], "by environment\n");
    assert!(output.status.success(), "{output:?}");

    // The config file gives the server too.
    std::fs::write(
        &config,
        format!(
            "# lsctl\nserver = \"{}\"\ntoken = \"{ADMIN_TOKEN}\"\n",
            daemon.url
        ),
    )
    .unwrap();
    let mut by_file = lsctl(&daemon);
    by_file
        .env_remove("LOGSTREAM_URL")
        .env("LSCTL_CONFIG", &config);
    let output = send_with(by_file, &["-s", "auth"], "by config file\n");
    assert!(output.status.success(), "{output:?}");

    let expected = ["by config file", "by environment", "by flag"];
    let mut command = lsctl(&daemon);
    command.args(["--token", READ_TOKEN]);
    assert_eq!(stored_messages(&mut command), expected);
    let mut command = lsctl(&daemon);
    command.env("LOGSTREAM_TOKEN", READ_TOKEN);
    assert_eq!(stored_messages(&mut command), expected);
    let mut command = lsctl(&daemon);
    command
        .env_remove("LOGSTREAM_URL")
        .env("LSCTL_CONFIG", &config);
    assert_eq!(stored_messages(&mut command), expected);

    // The flag beats the variable, which beats the config file.
    let mut command = lsctl(&daemon);
    command
        .env("LSCTL_CONFIG", &config)
        .env("LOGSTREAM_TOKEN", "wrong-token-wrong-token")
        .args(["--token", READ_TOKEN]);
    assert_eq!(stored_messages(&mut command), expected);
    std::fs::write(&config, "token = \"wrong-token-wrong-token\"\n").unwrap();
    let mut command = lsctl(&daemon);
    command
        .env("LSCTL_CONFIG", &config)
        .env("LOGSTREAM_TOKEN", READ_TOKEN);
    assert_eq!(stored_messages(&mut command), expected);
}

#[test]
fn a_refused_token_exits_4_at_once_saying_how_to_give_one() {
    let daemon = guarded_daemon();
    let hint = "--token, the LOGSTREAM_TOKEN environment variable, or `token = \"…\"` in /dev/null";

    let output = lsctl(&daemon).arg("query").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("lsctl: access denied: this server needs an access token"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("lsctl: no token was given; give one with {hint}")),
        "{stderr}"
    );

    // A wrong token is not retried, however long retries could go on.
    let started = Instant::now();
    let mut wrong = lsctl(&daemon);
    wrong.env("LOGSTREAM_TOKEN", "wrong-token-wrong-token");
    let output = send_with(wrong, &["-s", "x", "--retry-for", "60s"], "one\ntwo\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(stderr.contains("2 line(s) were not delivered"), "{stderr}");
    assert!(
        stderr.contains("unknown access token (401 Unauthorized)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the token from LOGSTREAM_TOKEN was refused; give another with {hint}"
        )),
        "{stderr}"
    );

    // Valid tokens without the needed scope: 403, the same exit code.
    let output = lsctl(&daemon)
        .args(["--token", INGEST_TOKEN, "stats"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("needs \"read\" (or \"admin\") (403 Forbidden)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the token from --token was refused"),
        "{stderr}"
    );
    let mut reader = lsctl(&daemon);
    reader.args(["--token", READ_TOKEN]);
    let output = send_with(reader, &["-s", "x"], "one\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("needs \"ingest\" (or \"admin\")"),
        "{stderr}"
    );
}

#[test]
fn config_file_mistakes_are_usage_errors_that_do_not_show_the_token() {
    let daemon = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lsctl.toml");
    let run = |config: &std::path::Path| {
        let output = lsctl(&daemon)
            .env("LSCTL_CONFIG", config)
            .arg("query")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };

    let (code, stderr) = run(&dir.path().join("missing.toml"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot read the config file"), "{stderr}");

    std::fs::write(
        &config,
        "server = \"http://x\"\ntoken = secret-token-secret\n",
    )
    .unwrap();
    let (code, stderr) = run(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("config file {}:2: ", config.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-token-secret"), "{stderr}");

    std::fs::write(&config, "tokn = \"secret-token-secret\"\n").unwrap();
    let (code, stderr) = run(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unknown field `tokn`"), "{stderr}");
}

/// `lsctl tail` prints records as they are stored, starts from history with
/// `--since`, and follows the daemon across a restart without missing or
/// repeating a record (it resumes from the last record's id).
#[test]
fn tail_follows_live_records_across_a_daemon_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = TestDaemon::start_in(dir.path(), &[]);
    let addr = daemon.addr().to_string();
    send(&daemon, &["-s", "tailed"], "history 1\nhistory 2\n");
    let tail = lsctl(&daemon)
        .args([
            "tail", "--since", "1h", "--count", "6", "--output", "ndjson", "-s", "tailed",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Another service's lines are not selected.
    send(&daemon, &["-s", "other"], "not this\n");
    send(&daemon, &["-s", "tailed"], "live 1\nlive 2\n");
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.terminate().success());
    let daemon = TestDaemon::start_in(dir.path(), &["--listen", &addr]);
    send(
        &daemon,
        &["-s", "tailed"],
        "after restart 1\nafter restart 2\n",
    );
    let output = output_within(tail, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("reconnecting"),
        "it had to reconnect: {stderr}"
    );
    let messages: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<LogRecord>(line).unwrap().message)
        .collect();
    assert_eq!(
        messages,
        [
            "history 1",
            "history 2",
            "live 1",
            "live 2",
            "after restart 1",
            "after restart 2"
        ]
    );
    let refused = lsctl(&daemon)
        .args(["tail", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(1),
        "json output cannot close a stream"
    );
}

/// The child's output once it exits, or a failed test after `timeout`.
fn output_within(child: Child, timeout: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("still running after {timeout:?}")
    })
}
