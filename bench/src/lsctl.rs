//! `scripts/bench --lsctl`: lines/s from a large file through the real
//! `lsctl send` into a daemon, beside `curl --data-binary` posting the same
//! records as NDJSON (10,000 per request, the API's batch limit), each into
//! a fresh daemon, in the same run. Twice: for a file of NDJSON records, and
//! for a file mixing the layouts of the catalogue (`lsctl formats`) in runs
//! of [`RUN`] lines, as files written by different programs one after the
//! other, where curl posts the records lsctl would make of it, parsed
//! beforehand, and `lsctl send --format raw` (no parsing) shows what the
//! parsing costs. Parsing alone is also timed with the layouts changing at
//! every line, the worst case for detection. For the NDJSON file, curl also
//! posts the records lsctl makes of it (baseline P), which differ a little
//! from the file's own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use logstream_parse::{Assembler, Settings, Zone, catalogue};
use logstream_shared::LogRecord;
use logstream_shared::api::MAX_BATCH_RECORDS;
use logstream_testkit::{TestDaemon, binary};

use crate::{ndjson, rate};

pub(crate) fn run(records: &[LogRecord]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("app.ndjson");
    std::fs::write(&file, ndjson(records))?;
    let curl = curl_rate(dir.path(), "records", records)?;
    let lsctl = lsctl_rate(dir.path(), &file, &[], records.len())?;
    // What lsctl makes of those lines is not quite the file's records (its
    // own ids, the file's ids kept as an attribute): curl posting exactly
    // lsctl's records tells the cost of the transport from that of the data.
    let file_lines: Vec<String> = std::fs::read_to_string(&file)?
        .lines()
        .map(str::to_string)
        .collect();
    let curl_same = curl_rate(dir.path(), "made", &parse(&file_lines))?;

    let lines = mixed_lines(records.len(), RUN);
    let mixed = dir.path().join("mixed.log");
    std::fs::write(&mixed, lines.join("\n") + "\n")?;
    let started = Instant::now();
    let parsed = parse(&lines);
    let parse_rate = rate(lines.len(), started.elapsed());
    let interleaved = mixed_lines(records.len(), 1);
    let started = Instant::now();
    parse(&interleaved);
    let interleaved_rate = rate(interleaved.len(), started.elapsed());
    let curl_mixed =
        curl_rate(dir.path(), "parsed", &parsed)? * lines.len() as f64 / parsed.len() as f64;
    let detected = lsctl_rate(dir.path(), &mixed, &[], lines.len())?;
    let raw = lsctl_rate(dir.path(), &mixed, &["--format", "raw"], lines.len())?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout)?;
    writeln!(
        stdout,
        "{:<72} {:>12} {:>12}",
        "shipping a file", "lines/s", "vs baseline"
    )?;
    let mut row = |name: &str, r: f64, baseline: f64| {
        writeln!(stdout, "{name:<72} {r:>12.0} {:>11.3}x", r / baseline)
    };
    row(
        "baseline U: curl --data-binary, NDJSON, 10,000 per request",
        curl,
        curl,
    )?;
    row(
        "lsctl send FILE of NDJSON (parse each line, batch, gzip) (vs U)",
        lsctl,
        curl,
    )?;
    row(
        "baseline P: curl, the records lsctl makes of that file, pre-parsed",
        curl_same,
        curl_same,
    )?;
    row(
        "lsctl send FILE of NDJSON, the same records (vs P)",
        lsctl,
        curl_same,
    )?;
    row(
        &format!(
            "baseline M: curl, the records of {} mixed layout lines, pre-parsed",
            lines.len()
        ),
        curl_mixed,
        curl_mixed,
    )?;
    row(
        "lsctl send FILE of mixed layouts (detect and parse each line) (vs M)",
        detected,
        curl_mixed,
    )?;
    row(
        "lsctl send --format raw, the same file (no parsing) (vs M)",
        raw,
        curl_mixed,
    )?;
    row(
        "parsing alone: detect and parse the mixed lines, one thread (vs M)",
        parse_rate,
        curl_mixed,
    )?;
    row(
        "parsing alone, the layout changing at every line, one thread (vs M)",
        interleaved_rate,
        curl_mixed,
    )?;
    writeln!(
        stdout,
        "layout detection and parsing cost {:.1}% of lsctl's rate (mixed vs raw)",
        (1.0 - detected / raw) * 100.0
    )?;
    Ok(())
}

/// How many lines of one layout come together in the mixed file.
const RUN: usize = 100;

/// `count` lines cycling through the catalogue's example lines, `run` of
/// each layout's at a time (its two-line examples repeated as a pair).
fn mixed_lines(count: usize, run: usize) -> Vec<String> {
    catalogue()
        .iter()
        .flat_map(|layout| {
            let lines: Vec<&str> = layout.example.lines().collect();
            let pairs = run.div_ceil(lines.len());
            std::iter::repeat_n(lines, pairs).flatten()
        })
        .cycle()
        .take(count)
        .map(str::to_string)
        .collect()
}

/// The records `lsctl send` makes of these lines.
fn parse(lines: &[String]) -> Vec<LogRecord> {
    let mut assembler = Assembler::new(Settings {
        timezone: Zone::Fixed(chrono::FixedOffset::east_opt(0).expect("UTC")),
        ..Settings::default()
    });
    let mut records: Vec<LogRecord> = lines.iter().flat_map(|line| assembler.push(line)).collect();
    records.extend(assembler.finish());
    records
}

/// Records per second that curl posts as NDJSON, 10,000 per request, into a
/// fresh daemon.
fn curl_rate(dir: &Path, name: &str, records: &[LogRecord]) -> anyhow::Result<f64> {
    let chunks: Vec<PathBuf> = records
        .chunks(MAX_BATCH_RECORDS)
        .enumerate()
        .map(|(n, chunk)| {
            let path = dir.join(format!("{name}-{n}.ndjson"));
            std::fs::write(&path, ndjson(chunk)).map(|()| path)
        })
        .collect::<Result<_, _>>()?;
    let daemon = TestDaemon::start();
    let started = Instant::now();
    for chunk in &chunks {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-f",
                "-o",
                "/dev/null",
                "-H",
                "Content-Type: application/x-ndjson",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", chunk.display()))
            .arg(daemon.at("/api/ingest"))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(rate(records.len(), started.elapsed()))
}

/// Lines per second that `lsctl send FLAGS FILE` ships into a fresh daemon.
fn lsctl_rate(state: &Path, file: &Path, flags: &[&str], lines: usize) -> anyhow::Result<f64> {
    let daemon = TestDaemon::start();
    let started = Instant::now();
    let out = Command::new(binary("lsctl"))
        .args(["--server", &daemon.url, "send"])
        .args(flags)
        .arg(file)
        .env_remove("LOGSTREAM_TOKEN")
        .env("LSCTL_CONFIG", "/dev/null")
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::null())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "lsctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(rate(lines, started.elapsed()))
}
