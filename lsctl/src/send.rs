//! `lsctl send`: lines in, batches out, nothing dropped without saying so.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use logstream_shared::LogRecord;
use logstream_shared::record::MAX_SERVICE_LEN;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::cli::SendArgs;
use crate::client::{ApiFailure, Client};
use crate::lines::{RecordDefaults, record_from_line};

/// How a send ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SendOutcome {
    pub(crate) delivered: u64,
    /// Lines read but not stored: refused by the daemon, or still unsent when
    /// lsctl gave up.
    pub(crate) undelivered: u64,
}

pub(crate) async fn send(client: &Client, args: SendArgs) -> anyhow::Result<SendOutcome> {
    if args.service.trim().is_empty() || args.service.len() > MAX_SERVICE_LEN {
        bail!(
            "--service must be 1 to {MAX_SERVICE_LEN} bytes, got \"{}\"",
            args.service
        );
    }
    let defaults = RecordDefaults {
        service: args.service.clone(),
        host: args.host.clone(),
    };
    let sources = open_sources(&args.files).await?;
    let batch_size = args.batch_size as usize;
    let (tx, mut rx) = mpsc::channel(batch_size * 4);
    let reader = tokio::spawn(read_lines(sources, defaults, tx));

    let mut outcome = SendOutcome::default();
    let mut batch = Vec::with_capacity(batch_size);
    let mut ticker = tokio::time::interval(args.flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut reading = true;
    while reading {
        tokio::select! {
            line = rx.recv() => match line {
                Some(record) => {
                    batch.push(record);
                    if batch.len() < batch_size {
                        continue;
                    }
                }
                None => reading = false,
            },
            _ = ticker.tick() => {}
            _ = &mut interrupted => {
                // Stop reading; deliver what was read already.
                reader.abort();
                rx.close();
                while let Some(record) = rx.recv().await {
                    batch.push(record);
                }
                reading = false;
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(failure) = deliver(
            client,
            std::mem::take(&mut batch),
            args.retry_for,
            &mut outcome,
        )
        .await
        {
            reader.abort();
            rx.close();
            let mut unsent = 0;
            while rx.recv().await.is_some() {
                unsent += 1;
            }
            outcome.undelivered += unsent;
            eprintln!(
                "lsctl: gave up after {}: {failure}",
                humantime::format_duration(args.retry_for)
            );
            return Ok(outcome);
        }
    }
    if let Ok(result) = reader.await {
        result?;
    }
    Ok(outcome)
}

/// Delivers a batch, splitting it when the daemon finds it too large. A
/// refused batch is reported and counted; a retryable failure past
/// `retry_for` is returned, with the batch counted as undelivered.
async fn deliver(
    client: &Client,
    batch: Vec<LogRecord>,
    retry_for: Duration,
    outcome: &mut SendOutcome,
) -> Result<(), ApiFailure> {
    let mut pending = vec![batch];
    while let Some(batch) = pending.pop() {
        match client.ingest_with_retries(&batch, retry_for).await {
            Ok(_) => outcome.delivered += batch.len() as u64,
            Err(ApiFailure::Rejected {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..
            }) if batch.len() > 1 => {
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                pending.push(second);
                pending.push(first);
            }
            Err(failure @ ApiFailure::Rejected { .. }) => {
                eprintln!(
                    "lsctl: the daemon refused {} line(s): {failure}",
                    batch.len()
                );
                outcome.undelivered += batch.len() as u64;
            }
            Err(failure) => {
                outcome.undelivered += pending
                    .iter()
                    .chain([&batch])
                    .map(|b| b.len() as u64)
                    .sum::<u64>();
                return Err(failure);
            }
        }
    }
    Ok(())
}

type Source = (String, Box<dyn AsyncRead + Unpin + Send>);

/// Opens every input before anything is sent, so a mistyped file name fails
/// at once.
async fn open_sources(files: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    if files.is_empty() {
        return Ok(vec![("stdin".into(), Box::new(tokio::io::stdin()))]);
    }
    let mut sources: Vec<Source> = Vec::new();
    for path in files {
        if path.as_os_str() == "-" {
            sources.push(("stdin".into(), Box::new(tokio::io::stdin())));
            continue;
        }
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("cannot open \"{}\"", path.display()))?;
        sources.push((path.display().to_string(), Box::new(file)));
    }
    Ok(sources)
}

async fn read_lines(
    sources: Vec<Source>,
    defaults: RecordDefaults,
    tx: mpsc::Sender<LogRecord>,
) -> anyhow::Result<()> {
    for (name, source) in sources {
        let mut reader = BufReader::new(source);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .await
                .with_context(|| format!("reading {name}"))?;
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(record) = record_from_line(line, &defaults, Utc::now()) {
                if tx.send(record).await.is_err() {
                    return Ok(()); // the sender stopped
                }
            }
        }
    }
    Ok(())
}
