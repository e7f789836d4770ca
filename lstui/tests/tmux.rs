//! End to end: the real `lstui` binary in a real terminal (tmux), against a
//! real daemon, with logs sent by the real `lsctl`. tmux types the keys and
//! reads the screen back, as a person would.
//!
//! These tests need tmux (`scripts/test` installs it); without it they fail
//! rather than skip.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, Tmux, log_rows, record_numbers, send};
use logstream_testkit::TestDaemon;

#[test]
fn tail_filter_pause_and_quit() {
    let config = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start();
    let tmux = Tmux::start(config.path());
    tmux.start_lstui(&daemon.url);

    // Logs sent with lsctl appear, with their level.
    send(&daemon, "api", &["INFO hello-from-api-1"]);
    send(&daemon, "web", &["ERROR hello-from-web-1"]);
    let screen = tmux.wait_for("both records", |s| {
        s.contains("hello-from-api-1") && s.contains("hello-from-web-1")
    });
    assert!(screen.contains("ERROR"), "{screen}");

    // A filter narrows the view, for records held and new ones.
    tmux.keys(&["f"]);
    tmux.type_text("service:web");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the filter to apply", |s| {
        !log_rows(s).contains("hello-from-api-1") && log_rows(s).contains("hello-from-web-1")
    });
    send(&daemon, "api", &["INFO hello-from-api-2"]);
    send(&daemon, "web", &["INFO hello-from-web-2"]);
    let screen = tmux.wait_for("a new web record", |s| s.contains("hello-from-web-2"));
    assert!(!log_rows(&screen).contains("hello-from-api-2"), "{screen}");

    // A filter that does not parse is pointed at, and the old one stays.
    tmux.keys(&["f", "C-u"]);
    tmux.type_text("level>=loud");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the parse error", |s| s.contains("column 8"));
    assert!(screen.contains("unknown level"), "{screen}");
    assert!(log_rows(&screen).contains("hello-from-web-2"), "{screen}");
    assert!(!log_rows(&screen).contains("hello-from-api"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the error to go", |s| !s.contains("column 8"));

    // Pausing holds the view while records arrive, and counts them.
    tmux.keys(&["Space"]);
    tmux.wait_for("the pause", |s| s.contains("PAUSED"));
    send(
        &daemon,
        "web",
        &["WARN after-pause-web-1", "WARN after-pause-web-2"],
    );
    let screen = tmux.wait_for("the count of new records", |s| s.contains("+2 new"));
    assert!(!screen.contains("after-pause-web"), "{screen}");
    tmux.keys(&["Space"]);
    tmux.wait_for("the held records after following again", |s| {
        s.contains("after-pause-web-2") && s.contains("following")
    });

    // The help overlay lists the keys.
    tmux.keys(&["?"]);
    tmux.wait_for("the help", |s| {
        s.contains("next (newer) / previous (older) match")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help to close", |s| !s.contains("any key closes"));

    // Quitting gives the terminal back as it was.
    tmux.keys(&["q"]);
    tmux.wait_for("the shell", |s| {
        s.contains("lstui-test$") && !s.contains("● live")
    });
    assert_eq!(
        tmux.pane("#{alternate_on} #{mouse_any_flag} #{cursor_flag}"),
        "0 0 1",
        "alternate screen, mouse reporting and the cursor restored"
    );
    let stty = config.path().join("stty.txt");
    tmux.type_text(&format!("echo exit=$?; stty -a > {}", stty.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the exit status", |s| s.contains("exit=0"));
    let started = Instant::now();
    while !stty.exists() && started.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let modes = std::fs::read_to_string(&stty).unwrap();
    let words: Vec<&str> = modes.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "raw mode left on: {modes}"
    );
}

#[test]
fn reconnects_after_a_daemon_restart_without_gap_or_duplicate() {
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut daemon = TestDaemon::start_in(data.path(), &[]);
    let addr = daemon.addr().to_string();
    let tmux = Tmux::start(config.path());
    tmux.start_lstui(&daemon.url);

    send(
        &daemon,
        "api",
        &["INFO before-restart-1", "INFO before-restart-2"],
    );
    tmux.wait_for("the first records", |s| s.contains("before-restart-2"));

    daemon.kill();
    tmux.wait_for("the lost connection", |s| s.contains("reconnecting"));
    let daemon = TestDaemon::start_in(data.path(), &["--listen", &addr]);
    send(&daemon, "api", &["INFO after-restart-1"]);
    let screen = tmux.wait_for("the record sent after the restart", |s| {
        s.contains("after-restart-1") && s.contains("● live")
    });
    for message in ["before-restart-1", "before-restart-2", "after-restart-1"] {
        assert_eq!(
            log_rows(&screen).matches(message).count(),
            1,
            "{message} once:\n{screen}"
        );
    }
    tmux.keys(&["q"]);
    tmux.wait_for("the shell", |s| !s.contains("● live"));
}

#[test]
fn history_pages_through_stored_days_without_gap_or_duplicate() {
    // More records than history keeps loaded (5,000), over three days.
    const RECORDS: u32 = 5_600;
    let config = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start();
    let start = chrono::Utc::now() - chrono::Duration::days(3);
    let lines: Vec<String> = (0..RECORDS)
        .map(|n| {
            let at = start + chrono::Duration::seconds(i64::from(n) * 40);
            format!(
                r#"{{"ts":"{}","level":"info","msg":"rec {n:05} stored"}}"#,
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
        })
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    send(&daemon, "hist", &lines);

    let tmux = Tmux::start(config.path());
    tmux.launch_lstui(&daemon.url, "--from 4d");
    let screen = tmux.wait_for("history at the newest record", |s| {
        s.contains("HISTORY") && s.contains(&format!("rec {:05}", RECORDS - 1))
    });
    let newest = start + chrono::Duration::seconds(i64::from(RECORDS - 1) * 40);
    assert!(
        screen.contains(&newest.format("%m-%d %H:%M:%S").to_string()),
        "times carry their date when history spans days: {screen}"
    );

    // The oldest record of the whole range, then a page at a time to the newest.
    tmux.keys(&["g"]);
    let mut screen = tmux.wait_for("the oldest record", |s| {
        record_numbers(s).first() == Some(&0)
    });
    // The first page key moves the selection to the bottom row; each next
    // one scrolls a page (keys are handled in order, so no wait is needed).
    tmux.keys(&["NPage"]);
    let mut seen: Vec<u32> = Vec::new();
    loop {
        let numbers = record_numbers(&screen);
        assert!(!numbers.is_empty(), "{screen}");
        // Screens overlap by a row: keep what is past the last number seen.
        let last_seen = seen.last().copied();
        let fresh: Vec<u32> = numbers
            .iter()
            .copied()
            .skip_while(|n| last_seen.is_some_and(|last| *n <= last))
            .collect();
        seen.extend(fresh);
        if seen.last() == Some(&(RECORDS - 1)) {
            break;
        }
        let last = *numbers.last().unwrap();
        tmux.keys(&["NPage"]);
        screen = tmux.wait_for("the next page", |s| {
            record_numbers(s).last().is_some_and(|n| *n > last)
        });
    }
    let expected: Vec<u32> = (0..RECORDS).collect();
    assert!(
        seen == expected,
        "paged records have a gap or a duplicate: {} seen, first wrong at {:?}",
        seen.len(),
        seen.iter().zip(&expected).position(|(a, b)| a != b)
    );

    // Down past the newest stored record: the live tail goes on from there,
    // and a new record appears.
    tmux.keys(&["Down"]);
    tmux.wait_for("the live tail", |s| s.contains("following"));
    send(&daemon, "hist", &["INFO fresh-after-history"]);
    tmux.wait_for("the new record", |s| s.contains("fresh-after-history"));
    tmux.keys(&["q"]);
}
