//! `lsctl send`'s spool and `--follow`, end to end: the real binary against a
//! real daemon that is stopped and started again on the same data and port.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use logstream_testkit::{TestDaemon, fetch_all, lsctl_in as lsctl};

fn spawn(command: &mut Command) -> Child {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn write_lines(stdin: &mut impl Write, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        writeln!(stdin, "{prefix} {i}").unwrap();
    }
    stdin.flush().unwrap();
}

fn append(path: &Path, prefix: &str, range: std::ops::Range<usize>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    write_lines(&mut file, prefix, range);
}

fn interrupt(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// The messages stored for `service`, sorted.
fn stored(daemon: &TestDaemon, service: &str) -> Vec<String> {
    let records = tokio::runtime::Runtime::new().unwrap().block_on(fetch_all(
        &reqwest::Client::new(),
        daemon,
        &format!("service:{service}"),
    ));
    let mut messages: Vec<String> = records.into_iter().map(|r| r.message).collect();
    messages.sort();
    messages
}

fn expected(parts: &[(&str, std::ops::Range<usize>)]) -> Vec<String> {
    let mut all: Vec<String> = parts
        .iter()
        .flat_map(|(prefix, range)| range.clone().map(move |i| format!("{prefix} {i}")))
        .collect();
    all.sort();
    all
}

/// Batches in the spool `spool` (in its subdirectory per daemon).
fn spooled_files(spool: &Path) -> usize {
    let Ok(servers) = std::fs::read_dir(spool) else {
        return 0;
    };
    servers
        .filter_map(Result::ok)
        .filter_map(|server| std::fs::read_dir(server.path()).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ndjson"))
        .count()
}

#[test]
fn a_daemon_stopped_mid_stream_gets_everything_once_on_the_next_run() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("spool");
    let mut daemon = TestDaemon::start_in(data.path(), &[]);
    let addr = daemon.addr().to_string();
    let url = daemon.url.clone();
    let spool_arg = spool.to_str().unwrap();
    let mut child = spawn(lsctl(&url, state.path()).args([
        "send",
        "-s",
        "spooled",
        "--flush-interval",
        "50ms",
        "--retry-for",
        "1s",
        "--spool-dir",
        spool_arg,
    ]));
    let mut stdin = child.stdin.take().unwrap();
    write_lines(&mut stdin, "before", 0..50);
    std::thread::sleep(Duration::from_millis(700));
    assert!(daemon.terminate().success());
    write_lines(&mut stdin, "during", 0..50);
    std::thread::sleep(Duration::from_millis(2500));
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("spooled 50 line(s)"), "{stderr}");
    assert!(stderr.contains("still spooled"), "{stderr}");
    assert!(spooled_files(&spool) > 0);

    // The next run sends the spool first, then its own lines.
    let daemon = TestDaemon::start_in(data.path(), &["--listen", &addr]);
    let mut child =
        spawn(lsctl(&url, state.path()).args(["send", "-s", "spooled", "--spool-dir", spool_arg]));
    let mut stdin = child.stdin.take().unwrap();
    write_lines(&mut stdin, "after", 0..5);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(spooled_files(&spool), 0, "{stderr}");
    assert_eq!(
        stored(&daemon, "spooled"),
        expected(&[("before", 0..50), ("during", 0..50), ("after", 0..5)])
    );
}

#[test]
fn the_same_run_drains_its_spool_once_the_daemon_is_back() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("logstream").join("spool");
    let mut daemon = TestDaemon::start_in(data.path(), &[]);
    let addr = daemon.addr().to_string();
    let url = daemon.url.clone();
    let mut child = spawn(lsctl(&url, state.path()).args([
        "send",
        "-s",
        "drained",
        "--flush-interval",
        "50ms",
        "--retry-for",
        "500ms",
    ]));
    let mut stdin = child.stdin.take().unwrap();
    write_lines(&mut stdin, "before", 0..20);
    std::thread::sleep(Duration::from_millis(700));
    assert!(daemon.terminate().success());
    write_lines(&mut stdin, "during", 0..20);
    std::thread::sleep(Duration::from_millis(1500));
    write_lines(&mut stdin, "later", 0..20);
    std::thread::sleep(Duration::from_millis(500));
    assert!(spooled_files(&spool) > 0, "the default spool is used");
    let daemon = TestDaemon::start_in(data.path(), &["--listen", &addr]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(spooled_files(&spool), 0, "drained while running");
    write_lines(&mut stdin, "after", 0..20);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("the spool is empty"), "{stderr}");
    assert_eq!(
        stored(&daemon, "drained"),
        expected(&[
            ("before", 0..20),
            ("during", 0..20),
            ("later", 0..20),
            ("after", 0..20)
        ])
    );
}

/// `lsctl send --follow FILE` with its state (checkpoint, spool) in `state`.
fn follow(daemon: &TestDaemon, state: &Path, file: &Path, service: &str) -> Child {
    spawn(lsctl(&daemon.url, state).args([
        "send",
        "--follow",
        "-s",
        service,
        "--flush-interval",
        "50ms",
        file.to_str().unwrap(),
    ]))
}

fn stop(child: Child) {
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn follow_reads_across_a_rename_rotation_without_loss_or_duplicates() {
    let daemon = TestDaemon::start();
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    append(&file, "first", 0..20);
    let child = follow(&daemon, state.path(), &file, "renamed");
    std::thread::sleep(Duration::from_millis(1000));
    append(&file, "grown", 0..10);
    let rotated = logs.path().join("app.log.1");
    std::fs::rename(&file, &rotated).unwrap();
    // The writer has not reopened yet: more goes to the old file.
    append(&rotated, "late", 0..5);
    std::thread::sleep(Duration::from_millis(300));
    append(&file, "new", 0..10);
    std::thread::sleep(Duration::from_millis(1500));
    append(&file, "newer", 0..3);
    std::thread::sleep(Duration::from_millis(1000));
    stop(child);
    assert_eq!(
        stored(&daemon, "renamed"),
        expected(&[
            ("first", 0..20),
            ("grown", 0..10),
            ("late", 0..5),
            ("new", 0..10),
            ("newer", 0..3)
        ])
    );
}

#[test]
fn follow_reads_across_a_copytruncate_rotation_without_loss_or_duplicates() {
    let daemon = TestDaemon::start();
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    append(&file, "old", 0..20);
    let child = follow(&daemon, state.path(), &file, "truncated");
    std::thread::sleep(Duration::from_millis(1000));
    append(&file, "grown", 0..10);
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::copy(&file, logs.path().join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&file, "fresh", 0..5);
    std::thread::sleep(Duration::from_millis(1500));
    append(&file, "fresher", 0..5);
    std::thread::sleep(Duration::from_millis(1000));
    stop(child);
    assert_eq!(
        stored(&daemon, "truncated"),
        expected(&[
            ("old", 0..20),
            ("grown", 0..10),
            ("fresh", 0..5),
            ("fresher", 0..5)
        ])
    );
}

#[test]
fn follow_resumes_from_its_checkpoint_after_a_restart() {
    let daemon = TestDaemon::start();
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("later.log");
    // The file does not exist yet: it is waited for.
    let child = follow(&daemon, state.path(), &file, "resumed");
    std::thread::sleep(Duration::from_millis(500));
    append(&file, "one", 0..20);
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    assert!(
        state
            .path()
            .join("logstream")
            .join("checkpoints.json")
            .exists()
    );
    append(&file, "while-stopped", 0..10);
    let child = follow(&daemon, state.path(), &file, "resumed");
    std::thread::sleep(Duration::from_millis(1500));
    append(&file, "two", 0..5);
    std::thread::sleep(Duration::from_millis(1000));
    stop(child);
    assert_eq!(
        stored(&daemon, "resumed"),
        expected(&[("one", 0..20), ("while-stopped", 0..10), ("two", 0..5)])
    );
}

#[test]
fn a_full_spool_exits_2_counting_what_could_be_neither_delivered_nor_spooled() {
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("tiny");
    let mut child = spawn(lsctl("http://127.0.0.1:9", state.path()).args([
        "send",
        "-s",
        "full",
        "--retry-for",
        "200ms",
        "--spool-max",
        "10",
        "--spool-dir",
        spool.to_str().unwrap(),
    ]));
    let mut stdin = child.stdin.take().unwrap();
    write_lines(&mut stdin, "line", 0..3);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is full (--spool-max)"), "{stderr}");
    assert!(stderr.contains("3 line(s) were not delivered"), "{stderr}");
    assert_eq!(spooled_files(&spool), 0);
}

#[test]
fn a_second_ctrl_c_spools_what_is_left_and_the_next_run_sends_it() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("logstream").join("spool");
    let mut daemon = TestDaemon::start_in(data.path(), &[]);
    let addr = daemon.addr().to_string();
    let url = daemon.url.clone();
    assert!(daemon.terminate().success());
    let mut child = spawn(lsctl(&url, state.path()).args([
        "send",
        "-s",
        "abandoned",
        "--flush-interval",
        "50ms",
    ]));
    let mut stdin = child.stdin.take().unwrap();
    write_lines(&mut stdin, "line", 0..7);
    std::thread::sleep(Duration::from_millis(700));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("spooled 7 line(s)"), "{stderr}");
    assert!(spooled_files(&spool) > 0);
    drop(stdin);

    let daemon = TestDaemon::start_in(data.path(), &["--listen", &addr]);
    let output = lsctl(&url, state.path())
        .args(["send", "-s", "abandoned"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(spooled_files(&spool), 0, "{stderr}");
    assert_eq!(stored(&daemon, "abandoned"), expected(&[("line", 0..7)]));
}

#[test]
fn follow_spools_while_the_daemon_is_away_and_a_restart_sends_each_record_once() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("trace.log");
    let mut daemon = TestDaemon::start_in(data.path(), &[]);
    let addr = daemon.addr().to_string();
    let url = daemon.url.clone();
    let traces = |from: usize, to: usize| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        for i in from..to {
            write!(file, "ERROR boom {i}\n\tat app.Main.run(Main.java:{i})\n").unwrap();
        }
    };
    let run = || {
        spawn(lsctl(&url, state.path()).args([
            "send",
            "-F",
            "-s",
            "traces",
            "--flush-interval",
            "50ms",
            "--retry-for",
            "300ms",
            file.to_str().unwrap(),
        ]))
    };
    traces(0, 10);
    let child = run();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(daemon.terminate().success());
    traces(10, 20);
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    assert!(spooled_files(&state.path().join("logstream").join("spool")) > 0);
    traces(20, 25);

    let daemon = TestDaemon::start_in(data.path(), &["--listen", &addr]);
    let child = run();
    std::thread::sleep(Duration::from_millis(1500));
    traces(25, 30);
    std::thread::sleep(Duration::from_millis(1000));
    stop(child);
    let mut firsts: Vec<String> = stored(&daemon, "traces")
        .iter()
        .map(|m| {
            assert!(m.contains("\tat app.Main.run"), "joined: {m:?}");
            m.lines().next().unwrap().to_string()
        })
        .collect();
    firsts.sort();
    let mut want: Vec<String> = (0..30).map(|i| format!("ERROR boom {i}")).collect();
    want.sort();
    assert_eq!(firsts, want);
}

#[test]
fn follow_finishes_a_file_rotated_away_while_it_was_stopped() {
    let daemon = TestDaemon::start();
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    append(&file, "one", 0..10);
    let child = follow(&daemon, state.path(), &file, "away");
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);
    append(&file, "unread", 0..5);
    std::fs::rename(&file, logs.path().join("app.log.1")).unwrap();
    append(&file, "new", 0..5);
    let child = follow(&daemon, state.path(), &file, "away");
    std::thread::sleep(Duration::from_millis(2000));
    stop(child);
    assert_eq!(
        stored(&daemon, "away"),
        expected(&[("one", 0..10), ("unread", 0..5), ("new", 0..5)])
    );
}

/// Issue 14: a batch read again after `kill -9` was sent under a new key, so
/// the daemon stored it twice (1 run in 20–40). Each batch is journalled
/// with its key before it is sent; a restart sends the journal first,
/// under the same keys, and reads the file on after it.
#[test]
fn follow_killed_again_and_again_stores_every_line_once() {
    let daemon = TestDaemon::start();
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("busy.log");
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (file, writing) = (file.clone(), std::sync::Arc::clone(&writing));
        std::thread::spawn(move || {
            let mut written = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                append(&file, "line", written..written + 20);
                written += 20;
                std::thread::sleep(Duration::from_millis(5));
            }
            written
        })
    };
    for round in 0..30u64 {
        let mut child = follow(&daemon, state.path(), &file, "killed");
        // Killed at times spread over the first ~600 ms of each run.
        std::thread::sleep(Duration::from_millis(150 + round * 7919 % 450));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    let child = follow(&daemon, state.path(), &file, "killed");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stored(&daemon, "killed").len() < written && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    stop(child);
    let stored = stored(&daemon, "killed");
    let mut unique = stored.clone();
    unique.dedup();
    assert_eq!(
        stored.len() - unique.len(),
        0,
        "lines stored twice, of {written}"
    );
    assert_eq!(stored, expected(&[("line", 0..written)]));
}
