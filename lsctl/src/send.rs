//! `lsctl send`: lines in, batches out, nothing dropped without saying so.
//!
//! A reader task turns lines into records and hands them over a bounded
//! channel (so a slow daemon slows reading rather than filling memory); this
//! task batches them by count and time and delivers each batch with retries.
//! The first Ctrl-C or SIGTERM stops reading and delivers what was read; a
//! second one abandons delivery. Whatever is not delivered is counted.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use logstream_shared::LogRecord;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cli::SendArgs;
use crate::client::{ApiFailure, Client};
use crate::lines::{Assembler, IDLE_FLUSH, Settings};

/// How a send ended.
#[derive(Debug, Default)]
pub(crate) struct SendOutcome {
    pub(crate) delivered: u64,
    /// Lines read but not stored: refused by the daemon, or still unsent when
    /// lsctl gave up or was interrupted.
    pub(crate) undelivered: u64,
    /// Reading an input failed; what was read before was still delivered.
    pub(crate) read_error: Option<anyhow::Error>,
    /// The daemon refused the token (401/403), which stopped the sending.
    pub(crate) denied: Option<ApiFailure>,
}

/// How the reader task ended.
#[derive(Debug, Default)]
struct ReaderEnd {
    /// Records it had read but could not hand over.
    unsent: u64,
    error: Option<anyhow::Error>,
}

pub(crate) async fn send(client: &Client, args: SendArgs) -> anyhow::Result<SendOutcome> {
    let settings = Settings::from_args(&args)?;
    let sources = open_sources(&args.files).await?;
    let batch_size = args.batch_size as usize;
    let (tx, mut rx) = mpsc::channel(batch_size * 4);
    let reader = tokio::spawn(read_lines(sources, settings, tx));
    let mut signals = stop_signals()?;

    let mut outcome = SendOutcome::default();
    let mut pending: Vec<LogRecord> = Vec::with_capacity(batch_size);
    let mut ticker = tokio::time::interval(args.flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reader = Some(reader);
    let mut stop_requested = false;
    loop {
        let mut flush = false;
        let mut stopping = stop_requested;
        if !stopping {
            tokio::select! {
                record = rx.recv() => match record {
                    Some(record) => {
                        pending.push(record);
                        flush = pending.len() >= batch_size;
                    }
                    None => stopping = true,
                },
                _ = ticker.tick() => flush = true,
                _ = signals.recv() => stopping = true,
            }
        }
        if stopping {
            // Take everything already read, including a record the reader
            // may be holding, then deliver it all.
            rx.close();
            while let Some(record) = rx.recv().await {
                pending.push(record);
            }
            let end = stop_reader(reader.take()).await;
            outcome.undelivered += end.unsent;
            outcome.read_error = end.error;
        }
        if flush || stopping {
            let batches: Vec<Vec<LogRecord>> = pending
                .chunks(batch_size)
                .map(<[LogRecord]>::to_vec)
                .collect();
            pending.clear();
            let mut remaining: u64 = batches.iter().map(|b| b.len() as u64).sum();
            for batch in batches {
                let size = batch.len() as u64;
                let mut result = Delivered::default();
                let abandoned = {
                    let delivering = deliver(client, batch, args.retry_for, &mut result);
                    tokio::pin!(delivering);
                    loop {
                        tokio::select! {
                            () = &mut delivering => break false,
                            _ = signals.recv() => {
                                if stopping || stop_requested {
                                    break true;
                                }
                                // The first signal: finish delivering, then stop reading.
                                stop_requested = true;
                            }
                        }
                    }
                };
                if abandoned {
                    eprintln!(
                        "lsctl: interrupted while delivering; the lines in flight may or may not have been stored"
                    );
                    result.failure = Some(None);
                }
                outcome.delivered += result.delivered;
                outcome.undelivered += result.refused;
                remaining -= size;
                if let Some(failure) = result.failure {
                    match failure {
                        Some(failure) if failure.is_access_denied() => {
                            outcome.denied = Some(failure);
                        }
                        Some(failure) => eprintln!(
                            "lsctl: gave up after {}: {failure}",
                            humantime::format_duration(args.retry_for)
                        ),
                        None => {}
                    }
                    outcome.undelivered += size - result.delivered - result.refused + remaining;
                    if !stopping {
                        rx.close();
                        while rx.recv().await.is_some() {
                            outcome.undelivered += 1;
                        }
                        outcome.undelivered += stop_reader(reader.take()).await.unsent;
                    }
                    return Ok(outcome);
                }
            }
        }
        if stopping {
            return Ok(outcome);
        }
    }
}

/// What became of one batch.
#[derive(Debug, Default)]
struct Delivered {
    delivered: u64,
    /// Refused by the daemon (400): sending again would not help.
    refused: u64,
    /// Set when delivery stopped early: `Some(failure)` when retries ran
    /// out or the token was refused, `None` inside when interrupted.
    failure: Option<Option<ApiFailure>>,
}

/// Delivers a batch, splitting it when the daemon finds it too large, and
/// counts into `result` as it goes (so the counts hold even if this is
/// abandoned midway). A refused batch is reported and counted; retries
/// running out or a refused token (every later batch would be refused too)
/// stops it.
async fn deliver(
    client: &Client,
    batch: Vec<LogRecord>,
    retry_for: Duration,
    result: &mut Delivered,
) {
    let mut parts = vec![batch];
    while let Some(part) = parts.pop() {
        match client.ingest_with_retries(&part, retry_for).await {
            Ok(_) => result.delivered += part.len() as u64,
            Err(ApiFailure::Rejected {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..
            }) if part.len() > 1 => {
                let mut first = part;
                let second = first.split_off(first.len() / 2);
                parts.push(second);
                parts.push(first);
            }
            Err(failure @ ApiFailure::Rejected { .. }) if !failure.is_access_denied() => {
                eprintln!(
                    "lsctl: the daemon refused {} line(s): {failure}",
                    part.len()
                );
                result.refused += part.len() as u64;
            }
            Err(failure) => {
                result.failure = Some(Some(failure));
                return;
            }
        }
    }
}

/// Ctrl-C and SIGTERM, each as one message.
fn stop_signals() -> anyhow::Result<mpsc::UnboundedReceiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = mpsc::unbounded_channel();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// Ends the reader once the channel is closed: one blocked handing a record
/// over returns it at once; one still waiting for input holds none and is
/// stopped.
async fn stop_reader(reader: Option<JoinHandle<ReaderEnd>>) -> ReaderEnd {
    let Some(mut reader) = reader else {
        return ReaderEnd::default();
    };
    match tokio::time::timeout(Duration::from_millis(200), &mut reader).await {
        Ok(Ok(end)) => end,
        Ok(Err(panicked)) => ReaderEnd {
            unsent: 0,
            error: Some(panicked.into()),
        },
        Err(_) => {
            reader.abort();
            ReaderEnd::default()
        }
    }
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

/// Reads lines into records (see `crate::lines`): a record that the next
/// lines may continue (a stack trace) is handed over once a line starts
/// another, the input ends, or no line has come for `IDLE_FLUSH`.
async fn read_lines(
    sources: Vec<Source>,
    settings: Settings,
    tx: mpsc::Sender<LogRecord>,
) -> ReaderEnd {
    let mut assembler = Assembler::new(settings);
    for (name, source) in sources {
        let mut reader = BufReader::new(source);
        let mut buf = Vec::new();
        loop {
            // `read_until` keeps what it read in `buf` when cancelled.
            let read = tokio::select! {
                read = reader.read_until(b'\n', &mut buf) => read,
                () = tokio::time::sleep(IDLE_FLUSH), if assembler.has_pending() => {
                    if let Some(end) = hand_over(&tx, assembler.flush_idle()).await {
                        return end;
                    }
                    continue;
                }
                // Stopping: what the assembler holds cannot be handed over.
                () = tx.closed(), if assembler.has_pending() => {
                    return ReaderEnd { unsent: assembler.finish().len() as u64, error: None };
                }
            };
            let records = match read {
                Ok(0) => break,
                Ok(_) => assembler.push(&String::from_utf8_lossy(&buf)),
                Err(e) => {
                    // What was read before is still delivered.
                    let end = hand_over(&tx, assembler.finish()).await.unwrap_or_default();
                    return ReaderEnd {
                        unsent: end.unsent,
                        error: Some(anyhow::Error::new(e).context(format!("reading {name}"))),
                    };
                }
            };
            buf.clear();
            if let Some(end) = hand_over(&tx, records).await {
                return end;
            }
        }
        // Lines of different inputs are never joined.
        if let Some(end) = hand_over(&tx, assembler.finish()).await {
            return end;
        }
    }
    ReaderEnd::default()
}

/// Hands records over; the end to report if the channel was closed.
async fn hand_over(tx: &mpsc::Sender<LogRecord>, records: Vec<LogRecord>) -> Option<ReaderEnd> {
    let count = records.len() as u64;
    for (sent, record) in records.into_iter().enumerate() {
        if tx.send(record).await.is_err() {
            return Some(ReaderEnd {
                unsent: count - sent as u64,
                error: None,
            });
        }
    }
    None
}
