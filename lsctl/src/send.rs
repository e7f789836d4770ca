//! `lsctl send`: lines in, batches out, nothing dropped without saying so.
//!
//! Reader tasks turn lines into records and hand them over a bounded channel
//! (so a slow daemon slows reading rather than filling memory); this task
//! batches them by count and time and delivers each batch with retries. A
//! batch the daemon does not take within `--retry-for` goes to the spool
//! (see `crate::spool`), and so do the batches after it until the daemon is
//! back; the spool is drained first, oldest first, whenever delivery works.
//! The first Ctrl-C or SIGTERM stops reading and delivers what was read; a
//! second one abandons delivery and spools the rest. Whatever is neither
//! delivered nor spooled is counted.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use logstream_shared::LogRecord;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::checkpoint::{Checkpoints, Position};
use crate::cli::SendArgs;
use crate::client::{ApiFailure, Client};
use crate::lines::{Assembler, IDLE_FLUSH, LayoutNote, Settings};
use crate::spool::{Spool, count_lines};

/// How a send ended.
#[derive(Debug, Default)]
pub(crate) struct SendOutcome {
    pub(crate) delivered: u64,
    /// Lines read but not stored nor spooled: refused by the daemon, or still
    /// unsent when lsctl gave up or was interrupted.
    pub(crate) undelivered: u64,
    /// Reading an input failed; what was read before was still delivered.
    pub(crate) read_error: Option<anyhow::Error>,
    /// The daemon refused the token (401/403), which stopped the sending.
    pub(crate) denied: Option<ApiFailure>,
    /// Retries of batches the daemon did not take at once.
    retried: u64,
    /// Lines put in the spool by this run.
    spooled: u64,
}

/// How the reader task ended.
#[derive(Debug, Default)]
pub(crate) struct ReaderEnd {
    /// Records it had read but could not hand over.
    pub(crate) unsent: u64,
    pub(crate) error: Option<anyhow::Error>,
}

/// Where a record's lines end in a followed file: once it is delivered or
/// spooled, the file's checkpoint may move there.
pub(crate) type Mark = Option<(String, Position)>;

/// What readers hand over.
pub(crate) type Item = (LogRecord, Mark);

/// How far stopping has come: a first signal (or the end of the input) stops
/// reading; a second abandons delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    Stopping,
    Abandoned,
}

struct Sender<'a> {
    client: &'a Client,
    spool: Spool,
    retry_for: Duration,
    checkpoints: Option<Checkpoints>,
    signals: mpsc::UnboundedReceiver<()>,
    stop_readers: watch::Sender<bool>,
    phase: Phase,
    /// The daemon did not take the last batch: new batches go to the spool
    /// until a probe finds it back.
    down: bool,
    last_probe: Instant,
    outcome: SendOutcome,
    /// Shown on a terminal while files are sent (see `progress_bar`).
    progress: Option<ProgressBar>,
}

/// What became of one batch.
enum Fate {
    /// Stored, spooled, or refused (and counted): the checkpoint may move.
    Handled,
    /// Neither delivered nor spooled (counted): stop.
    Lost,
}

/// How often a run whose daemon is away tries the oldest spooled batch.
const PROBE_EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn send(client: &Client, args: SendArgs) -> anyhow::Result<SendOutcome> {
    let settings = crate::lines::settings_from_args(&args)?;
    let batch_size = args.batch_size as usize;
    let (tx, mut rx) = mpsc::channel::<Item>(batch_size * 4);
    let (stop_readers, stop_rx) = watch::channel(false);
    let mut readers: Vec<JoinHandle<ReaderEnd>> = Vec::new();
    let mut progress = None;
    let checkpoints = if args.follow {
        let file = args
            .checkpoint
            .clone()
            .unwrap_or_else(|| crate::spool::state_dir().join("checkpoints.json"));
        Some(Checkpoints::load(file)?)
    } else {
        None
    };
    if let Some(checkpoints) = &checkpoints {
        for path in &args.files {
            if path.as_os_str() == "-" {
                let sources = open_sources(std::slice::from_ref(path)).await?;
                readers.push(tokio::spawn(read_lines(
                    sources,
                    settings.clone(),
                    tx.clone(),
                    stop_rx.clone(),
                    None,
                    args.verbose,
                )));
                continue;
            }
            let key = crate::follow::key_of(path);
            let start = checkpoints.get(&key).cloned();
            readers.push(tokio::spawn(crate::follow::follow(
                path.clone(),
                key,
                start,
                settings.clone(),
                tx.clone(),
                stop_rx.clone(),
                args.verbose,
            )));
        }
        if args.files.is_empty() {
            let sources = open_sources(&[]).await?;
            readers.push(tokio::spawn(read_lines(
                sources,
                settings,
                tx.clone(),
                stop_rx.clone(),
                None,
                args.verbose,
            )));
        }
    } else {
        let sources = open_sources(&args.files).await?;
        progress = progress_bar(&args.files);
        readers.push(tokio::spawn(read_lines(
            sources,
            settings,
            tx.clone(),
            stop_rx.clone(),
            progress.clone(),
            args.verbose,
        )));
    }
    drop(tx);
    let spool_dir = args
        .spool_dir
        .clone()
        .unwrap_or_else(|| crate::spool::state_dir().join("spool"));
    let mut sender = Sender {
        client,
        // Batches are only ever sent to the daemon they were meant for.
        spool: Spool::new(
            spool_dir.join(crate::spool::server_dir(client.server())),
            args.spool_max,
        ),
        retry_for: args.retry_for,
        checkpoints,
        signals: stop_signals()?,
        stop_readers,
        phase: Phase::Running,
        down: false,
        last_probe: Instant::now(),
        outcome: SendOutcome::default(),
        progress,
    };
    sender
        .run(&mut rx, readers, batch_size, args.flush_interval)
        .await;
    sender.summary();
    Ok(sender.outcome)
}

impl Sender<'_> {
    async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<Item>,
        readers: Vec<JoinHandle<ReaderEnd>>,
        batch_size: usize,
        flush_interval: Duration,
    ) {
        // What an earlier run left in the spool goes first.
        if !self.drain().await {
            return self.stop(rx, readers).await;
        }
        let mut pending: Vec<Item> = Vec::with_capacity(batch_size);
        let mut ticker = tokio::time::interval(flush_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ended = false;
        loop {
            let mut flush = false;
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => {
                        pending.push(item);
                        flush = pending.len() >= batch_size;
                    }
                    None => ended = true,
                },
                _ = ticker.tick() => flush = true,
                _ = self.signals.recv() => self.signalled(),
            }
            if self.phase == Phase::Abandoned {
                // The readers may hold records they cannot hand over now.
                rx.close();
                while let Some(item) = rx.recv().await {
                    pending.push(item);
                }
                ended = true;
            }
            if flush || ended {
                if self.down && self.last_probe.elapsed() >= PROBE_EVERY {
                    self.last_probe = Instant::now();
                    if !self.drain().await {
                        return self.stop(rx, readers).await;
                    }
                }
                let items = std::mem::take(&mut pending);
                let mut items = items.into_iter().peekable();
                while items.peek().is_some() {
                    let batch: Vec<Item> = items.by_ref().take(batch_size).collect();
                    if !self.handle(batch).await {
                        return self.stop(rx, readers).await;
                    }
                }
            }
            if ended {
                for end in join_readers(readers).await {
                    self.outcome.undelivered += end.unsent;
                    if self.outcome.read_error.is_none() {
                        self.outcome.read_error = end.error;
                    }
                }
                // A last try at what is spooled (one attempt if the daemon is away).
                self.drain().await;
                return;
            }
        }
    }

    /// A Ctrl-C or SIGTERM: the first stops the readers, which hand over
    /// what they hold; a second abandons delivery.
    fn signalled(&mut self) {
        if self.phase == Phase::Running {
            self.phase = Phase::Stopping;
            let _ = self.stop_readers.send(true);
        } else {
            self.phase = Phase::Abandoned;
        }
    }

    /// Gives up: what is left in the channel and the readers is counted.
    async fn stop(&mut self, rx: &mut mpsc::Receiver<Item>, readers: Vec<JoinHandle<ReaderEnd>>) {
        rx.close();
        while rx.recv().await.is_some() {
            self.outcome.undelivered += 1;
        }
        for reader in readers {
            self.outcome.undelivered += stop_reader(Some(reader)).await.unsent;
        }
    }

    /// Runs `work` while watching for signals; `None` if delivery was
    /// abandoned meanwhile.
    async fn watched<T>(
        signals: &mut mpsc::UnboundedReceiver<()>,
        phase: &mut Phase,
        stop_readers: &watch::Sender<bool>,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        tokio::pin!(work);
        loop {
            if *phase == Phase::Abandoned {
                return None;
            }
            tokio::select! {
                done = &mut work => return Some(done),
                _ = signals.recv() => {
                    if *phase == Phase::Running {
                        *phase = Phase::Stopping;
                        let _ = stop_readers.send(true);
                    } else {
                        *phase = Phase::Abandoned;
                        eprintln!(
                            "lsctl: interrupted while delivering; what is left goes to the spool if it can"
                        );
                    }
                }
            }
        }
    }

    /// Delivers one batch, or spools it, then moves the checkpoints. False
    /// when sending must stop.
    async fn handle(&mut self, batch: Vec<Item>) -> bool {
        let mut marks: Vec<(String, Position)> = Vec::new();
        let mut ndjson = Vec::new();
        for (record, mark) in batch {
            serde_json::to_writer(&mut ndjson, &record).expect("records serialize");
            ndjson.push(b'\n');
            marks.extend(mark);
        }
        let key = uuid::Uuid::now_v7().to_string();
        let fate = if self.down || self.phase == Phase::Abandoned {
            self.spool_batch(&key, &ndjson)
        } else {
            match self.deliver(&ndjson, &key, self.retry_for).await {
                Ok(()) => Fate::Handled,
                Err(Some(failure)) if failure.is_access_denied() => {
                    self.outcome.undelivered += count_lines(&ndjson);
                    self.outcome.denied = Some(failure);
                    return false;
                }
                Err(failure) => {
                    if let Some(failure) = failure {
                        eprintln!(
                            "lsctl: gave up after {}: {failure}",
                            humantime::format_duration(self.retry_for)
                        );
                    }
                    self.down = true;
                    self.last_probe = Instant::now();
                    self.spool_batch(&key, &ndjson)
                }
            }
        };
        if let Some(checkpoints) = &mut self.checkpoints
            && !marks.is_empty()
        {
            for (path, position) in marks {
                checkpoints.set(path, position);
            }
            if let Err(e) = checkpoints.save() {
                eprintln!("lsctl: {e:#}");
            }
        }
        matches!(fate, Fate::Handled)
    }

    fn spool_batch(&mut self, key: &str, ndjson: &[u8]) -> Fate {
        let lines = count_lines(ndjson);
        match self.spool.store(key, ndjson) {
            Ok(true) => {
                self.outcome.spooled += lines;
                Fate::Handled
            }
            Ok(false) => {
                if self.spool.enabled() {
                    eprintln!(
                        "lsctl: the spool {} is full (--spool-max)",
                        self.spool.dir().display()
                    );
                }
                self.outcome.undelivered += lines;
                Fate::Lost
            }
            Err(e) => {
                eprintln!("lsctl: {e:#}");
                self.outcome.undelivered += lines;
                Fate::Lost
            }
        }
    }

    /// Sends what the spool holds, oldest first. False when sending must stop
    /// (the token was refused).
    async fn drain(&mut self) -> bool {
        for batch in self.spool.list() {
            if self.phase == Phase::Abandoned {
                return true;
            }
            let ndjson = match self.spool.load(&batch) {
                Ok(ndjson) => ndjson,
                Err(e) => {
                    eprintln!("lsctl: {e:#}");
                    continue;
                }
            };
            // A daemon known to be away gets one attempt.
            let retry_for = if self.down {
                Duration::ZERO
            } else {
                self.retry_for
            };
            match self.deliver(&ndjson, &batch.key, retry_for).await {
                Ok(()) => {
                    self.spool.remove(&batch);
                    self.down = false;
                }
                Err(Some(failure)) if failure.is_access_denied() => {
                    self.outcome.denied = Some(failure);
                    return false;
                }
                Err(_) => {
                    self.down = true;
                    return true;
                }
            }
        }
        self.down = false;
        true
    }

    /// Delivers a batch, splitting it when the daemon finds it too large (the
    /// parts are named KEY.1 and KEY.2, so a replay is named the same way).
    /// A refused part is reported and counted. `Err(None)` when abandoned.
    async fn deliver(
        &mut self,
        ndjson: &[u8],
        key: &str,
        retry_for: Duration,
    ) -> Result<(), Option<ApiFailure>> {
        let mut parts = vec![(ndjson.to_vec(), key.to_string())];
        while let Some((part, key)) = parts.pop() {
            let lines = count_lines(&part);
            let attempt = Self::watched(
                &mut self.signals,
                &mut self.phase,
                &self.stop_readers,
                self.client.ingest_with_retries(&part, &key, retry_for),
            )
            .await;
            let attempt = attempt.map(|(result, retries)| {
                self.outcome.retried += u64::from(retries);
                result
            });
            match attempt {
                None => return Err(None),
                Some(Ok(())) => {
                    self.outcome.delivered += lines;
                    if let Some(bar) = &self.progress {
                        bar.set_message(format!("{} lines sent", self.outcome.delivered));
                    }
                }
                Some(Err(ApiFailure::Rejected {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    ..
                })) if lines > 1 => {
                    let cut = nth_line_end(&part, lines / 2);
                    parts.push((part[cut..].to_vec(), format!("{key}.2")));
                    parts.push((part[..cut].to_vec(), format!("{key}.1")));
                }
                Some(Err(failure @ ApiFailure::Rejected { .. })) if !failure.is_access_denied() => {
                    eprintln!("lsctl: the daemon refused {lines} line(s): {failure}");
                    self.outcome.undelivered += lines;
                }
                Some(Err(failure)) => {
                    // What is left, this part first, goes to the spool whole.
                    return Err(Some(failure));
                }
            }
        }
        Ok(())
    }

    /// The closing line on stderr: always on a terminal; when stderr is
    /// piped, only if anything was retried or spooled.
    fn summary(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        let left = self.spool.list();
        let o = &self.outcome;
        let quiet = o.retried == 0 && o.spooled == 0 && left.is_empty();
        if quiet && !std::io::stderr().is_terminal() {
            return;
        }
        let mut line = format!(
            "lsctl: sent {} line(s), retried {} time(s), spooled {} line(s)",
            o.delivered, o.retried, o.spooled
        );
        if left.is_empty() {
            line.push_str("; the spool is empty");
        } else {
            let bytes: u64 = left.iter().map(|b| b.size).sum();
            line.push_str(&format!(
                "; {} batch(es) ({bytes} bytes) still spooled in {}, sent on the next run",
                left.len(),
                self.spool.dir().display()
            ));
        }
        eprintln!("{line}");
    }
}

/// The byte just past the `n`th newline.
fn nth_line_end(ndjson: &[u8], n: u64) -> usize {
    let mut seen = 0;
    for (i, &b) in ndjson.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    ndjson.len()
}

/// Waits for readers that were asked to stop (they hand over what they
/// hold, then end).
async fn join_readers(readers: Vec<JoinHandle<ReaderEnd>>) -> Vec<ReaderEnd> {
    let mut ends = Vec::new();
    for reader in readers {
        ends.push(stop_reader(Some(reader)).await);
    }
    ends
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

/// Ends a reader once the channel is closed: one blocked handing a record
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
/// another, the input ends, or no line has come for `IDLE_FLUSH`. Asked to
/// stop, it hands over what it holds and ends.
async fn read_lines(
    sources: Vec<Source>,
    settings: Settings,
    tx: mpsc::Sender<Item>,
    mut stop: watch::Receiver<bool>,
    progress: Option<ProgressBar>,
    verbose: bool,
) -> ReaderEnd {
    let mut assembler = Assembler::new(settings);
    for (name, source) in sources {
        let mut note = LayoutNote::new(&name, verbose);
        let mut reader = BufReader::new(source);
        let mut buf = Vec::new();
        loop {
            if *stop.borrow() {
                let mut records = Vec::new();
                if !buf.is_empty() {
                    records = assembler.push(&String::from_utf8_lossy(&buf));
                }
                records.extend(assembler.finish());
                return hand_over(&tx, records, None).await.unwrap_or_default();
            }
            // `read_until` keeps what it read in `buf` when cancelled.
            let read = tokio::select! {
                read = reader.read_until(b'\n', &mut buf) => read,
                () = tokio::time::sleep(IDLE_FLUSH), if assembler.has_pending() => {
                    if let Some(end) = hand_over(&tx, assembler.flush_idle(), None).await {
                        return end;
                    }
                    continue;
                }
                changed = stop.changed() => {
                    if changed.is_err() {
                        // Nobody is receiving any more.
                        return ReaderEnd::default();
                    }
                    continue;
                }
            };
            let records = match read {
                Ok(0) => break,
                Ok(bytes) => {
                    if let Some(bar) = &progress {
                        bar.inc(bytes as u64);
                    }
                    let records = assembler.push(&String::from_utf8_lossy(&buf));
                    note.after_line(&assembler);
                    records
                }
                Err(e) => {
                    // What was read before is still delivered.
                    let end = hand_over(&tx, assembler.finish(), None)
                        .await
                        .unwrap_or_default();
                    return ReaderEnd {
                        unsent: end.unsent,
                        error: Some(anyhow::Error::new(e).context(format!("reading {name}"))),
                    };
                }
            };
            buf.clear();
            if let Some(end) = hand_over(&tx, records, None).await {
                return end;
            }
        }
        note.at_end();
        // Lines of different inputs are never joined.
        if let Some(end) = hand_over(&tx, assembler.finish(), None).await {
            return end;
        }
    }
    ReaderEnd::default()
}

/// A progress bar of the bytes read, with the lines sent and the rate, when
/// stderr is a terminal and every input is a file of known size (nothing
/// extra when piped, or for stdin, whose end is unknown).
fn progress_bar(files: &[PathBuf]) -> Option<ProgressBar> {
    if files.is_empty() || !std::io::stderr().is_terminal() {
        return None;
    }
    let mut total = 0;
    for path in files {
        let metadata = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        total += metadata.len();
    }
    let style = ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec}, {msg}, {eta} left",
    )
    .ok()?;
    let bar = ProgressBar::new(total).with_style(style);
    bar.set_message("0 lines sent");
    Some(bar)
}

/// Hands records over, the last one carrying `mark`; the end to report if
/// the channel was closed.
pub(crate) async fn hand_over(
    tx: &mpsc::Sender<Item>,
    records: Vec<LogRecord>,
    mark: Mark,
) -> Option<ReaderEnd> {
    let count = records.len() as u64;
    let mut mark = Some(mark);
    for (sent, record) in records.into_iter().enumerate() {
        let this = if sent as u64 + 1 == count {
            mark.take().flatten()
        } else {
            None
        };
        if tx.send((record, this)).await.is_err() {
            return Some(ReaderEnd {
                unsent: count - sent as u64,
                error: None,
            });
        }
    }
    None
}
