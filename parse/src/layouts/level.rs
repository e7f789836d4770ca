//! Level words, letters and numbers, as layouts print them.

use logstream_shared::Level;

/// Level names everywhere taken in any case; the other names (`NOTICE`,
/// `FINE`, `LOG`, `INF`, …) only in capitals where a layout puts a level, as
/// they are also plain words.
const USUAL: [&str; 10] = [
    "trace", "debug", "info", "warn", "warning", "error", "err", "fatal", "critical", "panic",
];

/// Names beyond what [`Level`]'s parser knows: the three- and four-letter
/// ones of Serilog, zerolog, logrus and .NET, java.util.logging's `FINER`
/// and `CONFIG`, Postgres' `LOG`.
const EXTRA: [(&str, Level); 14] = [
    ("trc", Level::Trace),
    ("trce", Level::Trace),
    ("vrb", Level::Trace),
    ("finer", Level::Trace),
    ("dbug", Level::Debug),
    ("config", Level::Debug),
    ("inf", Level::Info),
    ("log", Level::Info),
    ("wrn", Level::Warn),
    ("eror", Level::Error),
    ("erro", Level::Error),
    ("fail", Level::Error),
    ("crt", Level::Fatal),
    ("ftl", Level::Fatal),
];

/// A level name in any case: the names [`Level`] parses and [`EXTRA`], also
/// Postgres' `DEBUG1`…`DEBUG5` and Apache's `trace1`…`trace8`.
pub(crate) fn name(word: &str) -> Option<Level> {
    if word.is_empty() || word.len() > 13 {
        return None;
    }
    if let Ok(level) = word.parse() {
        return Some(level);
    }
    let lower = word.to_ascii_lowercase();
    let numbered = |prefix: &str| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit())
    };
    if numbered("debug") {
        return Some(Level::Debug);
    }
    if numbered("trace") {
        return Some(Level::Trace);
    }
    EXTRA
        .iter()
        .find(|(extra, _)| *extra == lower)
        .map(|(_, level)| *level)
}

/// A word that names a level where a layout puts one: `ERROR`, `[warn]`,
/// `<INFO>`, `WARN:`. Any case for the usual names, capitals for the others.
pub(crate) fn word(token: &str) -> Option<Level> {
    let word = token.strip_suffix(':').unwrap_or(token);
    let word = [('[', ']'), ('<', '>'), ('(', ')')]
        .iter()
        .find_map(|(open, close)| word.strip_prefix(*open)?.strip_suffix(*close))
        .unwrap_or(word);
    let word = word.trim_end_matches(' ');
    let level = name(word)?;
    let capitals = word
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (capitals || USUAL.iter().any(|u| u.eq_ignore_ascii_case(word))).then_some(level)
}

/// A level word among the first few words of a text, as in
/// `2024-05-01 12:00:00 ERROR …`, `[warn] …` or `level=error …`.
pub(crate) fn near_start(text: &str) -> Option<Level> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .take(6)
        .find(|word| USUAL.iter().any(|l| l.eq_ignore_ascii_case(word)))
        .and_then(|word| word.parse().ok())
}

/// The one-letter levels of logcat (`V D I W E F A`), klog (`I W E F`) and
/// Ruby's Logger (`D I W E F U`).
pub(crate) fn letter(c: u8) -> Option<Level> {
    Some(match c {
        b'V' | b'T' => Level::Trace,
        b'D' => Level::Debug,
        b'I' => Level::Info,
        b'W' => Level::Warn,
        b'E' => Level::Error,
        b'F' | b'A' | b'U' => Level::Fatal,
        _ => return None,
    })
}

/// pino's and bunyan's numeric levels: 10 trace, 20 debug, … 60 fatal.
pub(crate) fn pino(number: u64) -> Option<Level> {
    Some(match number {
        10 => Level::Trace,
        20 => Level::Debug,
        30 => Level::Info,
        40 => Level::Warn,
        50 => Level::Error,
        60 => Level::Fatal,
        _ => return None,
    })
}

/// An HTTP status' level: 5xx an error, 4xx a warning, else info.
pub(crate) fn http_status(status: u16) -> Level {
    match status {
        500.. => Level::Error,
        400..=499 => Level::Warn,
        _ => Level::Info,
    }
}
