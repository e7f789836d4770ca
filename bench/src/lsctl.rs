//! `scripts/bench --lsctl`: lines/s from a large file through the real
//! `lsctl send` into a daemon, beside `curl --data-binary` posting the same
//! records as NDJSON (10,000 per request, the API's batch limit), each into
//! a fresh daemon, in the same run.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use logstream_shared::LogRecord;
use logstream_shared::api::MAX_BATCH_RECORDS;
use logstream_testkit::{TestDaemon, binary};

use crate::{ndjson, rate};

pub(crate) fn run(records: &[LogRecord]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("app.ndjson");
    std::fs::write(&file, ndjson(records))?;
    let chunks: Vec<std::path::PathBuf> = records
        .chunks(MAX_BATCH_RECORDS)
        .enumerate()
        .map(|(n, chunk)| {
            let path = dir.path().join(format!("chunk-{n}.ndjson"));
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
    let curl_rate = rate(records.len(), started.elapsed());
    drop(daemon);

    let daemon = TestDaemon::start();
    let started = Instant::now();
    let out = Command::new(binary("lsctl"))
        .args(["--server", &daemon.url, "send"])
        .arg(&file)
        .env_remove("LOGSTREAM_TOKEN")
        .env("LSCTL_CONFIG", "/dev/null")
        .env("XDG_STATE_HOME", dir.path())
        .stdin(Stdio::null())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "lsctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lsctl_rate = rate(records.len(), started.elapsed());

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout)?;
    writeln!(
        stdout,
        "{:<64} {:>12} {:>12}",
        "shipping a file", "lines/s", "vs baseline"
    )?;
    let row = |out: &mut dyn Write, name: &str, r: f64| {
        writeln!(out, "{name:<64} {r:>12.0} {:>11.3}x", r / curl_rate)
    };
    row(
        &mut stdout,
        "baseline U: curl --data-binary, NDJSON, 10,000 per request",
        curl_rate,
    )?;
    row(
        &mut stdout,
        "lsctl send FILE (parse each line, batch, gzip) (vs U)",
        lsctl_rate,
    )?;
    Ok(())
}
