//! End to end, lstui as an explorer of what is stored: the timeline and the
//! facets from the daemon, a jump to an error days back seen in context, a
//! jump to a typed time, and a facet narrowing the view. The real lstui in
//! tmux, against a real daemon fed by the real lsctl.

mod common;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::{Tmux, log_rows, record_numbers, send};
use logstream_testkit::TestDaemon;

/// Records over three days, one every 90 s (the timeline shows 2,880).
const RECORDS: u32 = 2_880;
/// The two errors, of service `pay`; everything else is INFO of `shop`.
const ERRORS: [u32; 2] = [1_200, 2_500];

fn time_of(start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    start + Duration::seconds(i64::from(n) * 90)
}

fn stored_lines(start: DateTime<Utc>) -> (Vec<String>, Vec<String>) {
    let line = |n: u32, level: &str, word: &str| {
        format!(
            r#"{{"ts":"{}","level":"{level}","msg":"rec {n:05} {word}"}}"#,
            time_of(start, n).to_rfc3339_opts(SecondsFormat::Millis, true)
        )
    };
    let (mut shop, mut pay) = (Vec::new(), Vec::new());
    for n in 0..RECORDS {
        match ERRORS.contains(&n) {
            true => pay.push(line(n, "error", "boom")),
            false => shop.push(line(n, "info", "fine")),
        }
    }
    (shop, pay)
}

/// A daemon holding the three days of records; and when they start.
fn stored_daemon() -> (TestDaemon, DateTime<Utc>) {
    let daemon = TestDaemon::start();
    let start = Utc::now() - Duration::days(3);
    let (shop, pay) = stored_lines(start);
    send(&daemon, "shop", &as_str(&shop));
    send(&daemon, "pay", &as_str(&pay));
    (daemon, start)
}

fn as_str(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// The row of the selected record, as the detail pane names it.
fn detail_message(screen: &str) -> Option<String> {
    let at = screen.find("\"message\": \"")? + "\"message\": \"".len();
    let end = screen[at..].find('"')?;
    Some(screen[at..at + end].to_string())
}

#[test]
fn history_finds_an_error_days_back_in_context_and_narrows_with_a_facet() {
    let config = tempfile::tempdir().unwrap();
    let (daemon, start) = stored_daemon();

    let tmux = Tmux::start(config.path());
    tmux.launch_lstui(&daemon.url, "--from 4d");
    // The timeline counts the whole range, from the daemon, not what is loaded.
    let screen = tmux.wait_for("history with its timeline and facets", |s| {
        s.contains("timeline 2,880 records")
            && s.contains("facets ")
            && s.contains("shop")
            && s.contains("pay")
    });
    assert!(screen.contains("ERROR"), "the level facet: {screen}");

    // From the oldest record, the first error is past the loaded pages: the
    // daemon finds it, and the view opens around it with what came before.
    tmux.keys(&["g"]);
    tmux.wait_for("the oldest record", |s| {
        record_numbers(s).first() == Some(&0)
    });
    tmux.keys(&["e"]);
    let first = ERRORS[0];
    let screen = tmux.wait_for("the first error in context", |s| {
        let numbers = record_numbers(s);
        numbers.contains(&first) && numbers.contains(&(first - 5)) && numbers.contains(&(first + 5))
    });
    assert!(
        log_rows(&screen).contains(&format!("rec {first:05} boom")),
        "{screen}"
    );
    tmux.keys(&["d"]);
    let screen = tmux.wait_for("the error's details", |s| detail_message(s).is_some());
    assert_eq!(
        detail_message(&screen).as_deref(),
        Some(format!("rec {first:05} boom").as_str()),
        "the error is the selected record: {screen}"
    );
    tmux.keys(&["Escape"]);
    // The next error, and no more after it.
    tmux.keys(&["e"]);
    tmux.wait_for("the second error", |s| {
        record_numbers(s).contains(&ERRORS[1])
    });
    tmux.keys(&["e"]);
    tmux.wait_for("no newer error", |s| {
        s.contains("no newer error in the range")
    });

    // A typed time: the view opens at the first record from then on.
    let at = time_of(start, 700) - Duration::seconds(30);
    tmux.keys(&["t"]);
    tmux.type_text(&at.format("%Y-%m-%d %H:%M:%S").to_string());
    tmux.keys(&["Enter", "d"]);
    // The page before it arrives after the record itself: context above.
    tmux.wait_for("the record at the typed time, with context above", |s| {
        detail_message(s).is_some_and(|m| m.starts_with("rec 00700"))
            && record_numbers(s).contains(&699)
    });
    tmux.keys(&["Escape"]);

    // The facet `pay` (the second service, by count) narrows the view to
    // its two records, and the timeline follows the filter.
    tmux.keys(&["Tab", "j", "Enter"]);
    let screen = tmux.wait_for("only pay's records", |s| {
        s.contains("timeline 2 records") && record_numbers(s) == ERRORS
    });
    assert!(screen.contains("services pay"), "{screen}");
    tmux.keys(&["q"]);
}

#[test]
fn marks_context_copy_pager_and_save_work_on_stored_records() {
    let config = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (daemon, _) = stored_daemon();

    let tmux = Tmux::start(config.path());
    // OSC 52 from lstui becomes a tmux paste buffer.
    tmux.run(&["set-option", "-g", "set-clipboard", "on"]);
    let paged = out.path().join("paged.json");
    tmux.type_text(&format!("export 'PAGER=cat > {}'", paged.display()));
    tmux.keys(&["Enter"]);
    tmux.launch_lstui(&daemon.url, "--from 4d");
    tmux.wait_for("history", |s| s.contains("timeline 2,880 records"));

    // Mark the newest error, go to the oldest record, and back to the mark.
    let (first, last) = (ERRORS[0], ERRORS[1]);
    tmux.keys(&["E"]);
    tmux.wait_for("the newest error", |s| record_numbers(s).contains(&last));
    tmux.keys(&["m", "g"]);
    tmux.wait_for("the oldest record", |s| {
        record_numbers(s).first() == Some(&0)
    });
    tmux.keys(&["u", "d"]);
    let screen = tmux.wait_for("the mark", |s| {
        detail_message(s).is_some_and(|m| m.contains("02500"))
    });
    assert!(screen.contains("1 marked"), "{screen}");
    tmux.keys(&["Escape"]);

    // Its context: the other record of its service, the first error.
    tmux.keys(&["x"]);
    let screen = tmux.wait_for("the context", |s| {
        s.contains("context: the same service") && s.contains(&format!("rec {first:05} boom"))
    });
    let pane = &screen[screen.find("context: the same service").unwrap()..];
    assert!(!pane.contains("fine"), "only the same service: {screen}");
    tmux.keys(&["Escape"]);

    // Copied and paged as JSON.
    tmux.keys(&["y"]);
    tmux.wait_for("the copy", |s| s.contains("copied the record"));
    let buffer = tmux.run(&["show-buffer"]);
    let copied: serde_json::Value = serde_json::from_str(&buffer).expect("the record as JSON");
    assert_eq!(copied["message"], format!("rec {last:05} boom"));
    tmux.keys(&["o"]);
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&paged).is_ok_and(|t| t.ends_with("}\n")) {
        assert!(
            started.elapsed() < common::PATIENCE,
            "$PAGER never got the record"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let paged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paged).unwrap()).unwrap();
    assert_eq!(paged, copied);
    tmux.wait_for("lstui again after the pager", |s| {
        s.contains("timeline 2,880 records")
    });

    // The query's results to a file: every error in the range.
    tmux.keys(&["f"]);
    tmux.type_text("boom");
    tmux.keys(&["Enter", "s", "C-u"]);
    let saved = out.path().join("errors.ndjson");
    tmux.type_text(&saved.display().to_string());
    tmux.keys(&["Enter"]);
    tmux.wait_for("the save", |s| s.contains("saved 2 records"));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&saved)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            format!("rec {first:05} boom"),
            format!("rec {last:05} boom")
        ]
    );
    tmux.keys(&["q"]);
}
