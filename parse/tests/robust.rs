//! Whatever the input, reading it neither panics nor takes more than linear
//! time. The time bound is structural (each layout reads a bounded number
//! of fields with single forward scans, no backtracking, and detection
//! tries a fixed number of layouts); the tests check that no input panics,
//! and that megabyte lines made of the layouts' own punctuation, the worst
//! case for such scans, are read quickly.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logstream_parse::{Assembler, Format, Settings, catalogue};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    "2026-11-27T13:00:00Z".parse().unwrap()
}

/// Reads the lines with this format, returning how many records came out.
fn read(format: Format, lines: &[String]) -> usize {
    let mut assembler = Assembler::new(Settings {
        format,
        ..Settings::default()
    });
    let mut count = 0;
    for line in lines {
        count += assembler.push_at(line, now()).len();
    }
    count + assembler.finish().len()
}

/// Pieces of the layouts' syntax, so that random lines get past their
/// first checks and into their later fields.
const PIECES: [&str; 32] = [
    "2026-11-27T12:00:01.123Z",
    "2026/11/27 12:00:01",
    "27/Nov/2026:12:00:01 +0000",
    "17/06/09 20:10:40",
    "081109 203615",
    "03-17 16:13:38.811",
    "I1127 12:00:01.1",
    "Nov 27 12:00:01",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\",
    ": ",
    " - ",
    "\t",
    " ",
    "  ",
    "ERROR",
    "info",
    "W/",
    "(",
    ")",
    "#",
    "[pid 1:tid 2]",
    "{\"log\":\"",
    "stdout P ",
    "- 1117838570 2005.06.03 ",
    "1795780801.5",
    "é",
    "level=warn msg=\"",
];

fn line_of_pieces() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&PIECES[..]), 0..24).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(lines in prop::collection::vec(any::<String>(), 1..6)) {
        read(Format::Auto, &lines);
    }

    #[test]
    fn lines_of_layout_syntax_never_panic_in_any_format(
        lines in prop::collection::vec(line_of_pieces(), 1..6),
    ) {
        prop_assert!(read(Format::Auto, &lines) <= lines.len());
        for format in Format::all() {
            read(format, &lines);
        }
    }
}

#[test]
fn megabyte_lines_of_layout_syntax_are_read_quickly() {
    // Generous: a debug build on a busy machine reads each in milliseconds.
    let bound = Duration::from_secs(5);
    let pieces = [
        "[",
        "{\"log\":\"",
        ": ",
        "  ",
        "2026-11-27 12:00:01 ",
        "\\",
        "é",
        "x=\"",
    ];
    for piece in pieces {
        let line = piece.repeat(1_000_000 / piece.len());
        for prefix in ["", "2026-11-27T12:00:01Z ", "- 1117838570 2005.06.03 n "] {
            let line = format!("{prefix}{line}");
            let started = Instant::now();
            read(Format::Auto, std::slice::from_ref(&line));
            let took = started.elapsed();
            assert!(
                took < bound,
                "{took:?} for {prefix:?} + {piece:?} × {}",
                line.len() / piece.len()
            );
        }
    }
}

#[test]
fn every_layout_forced_reads_a_long_line_quickly() {
    let line = "2026-11-27T12:00:01Z [x] ".repeat(10_000);
    for layout in catalogue() {
        let format: Format = layout.name.parse().unwrap();
        let started = Instant::now();
        read(format, std::slice::from_ref(&line));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{}",
            layout.name
        );
    }
}
