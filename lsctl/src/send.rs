//! `lsctl send`: lines in, batches out, nothing dropped without saying so.
//!
//! Reader tasks turn lines into records and hand them over a bounded channel
//! (so a slow daemon slows reading rather than filling memory); this task
//! batches them by count and time and delivers each batch with retries,
//! encoding the next while [`IN_FLIGHT`] are on their way. A
//! batch the daemon does not take within `--retry-for` goes to the spool
//! (see `crate::spool`), and so do the batches after it until the daemon is
//! back; the spool is drained first, oldest first, whenever delivery works.
//! The first Ctrl-C or SIGTERM stops reading and delivers what was read; a
//! second one abandons delivery and spools the rest. Whatever is neither
//! delivered nor spooled is counted.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
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
use crate::journal::Journal;
use crate::lines::{Assembler, IDLE_FLUSH, LayoutNote, Settings};
use crate::order::{Order, Place};
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
    /// With `--follow`: the batches sent and not yet answered, on disk.
    journal: Option<Journal>,
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
    /// Batches sent and not yet answered, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Numbers the batches sent, for the daemon to keep them in order.
    order: Order,
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

/// Batches sent and not yet answered, at most. While the daemon stores one,
/// lsctl reads and encodes the next and the daemon reads the one after, and
/// the daemon's group commit may take several in one transaction. Each
/// carries its place in this run (see `crate::order`), so the daemon stores
/// them in the order they were read and the live tail shows an input's
/// lines in order. Answers are handled oldest first, so checkpoints and the
/// spool see the batches in that order too.
const IN_FLIGHT: usize = 4;

/// A batch on its way to the daemon.
struct InFlight {
    key: String,
    /// Kept to spool it if the daemon does not take it.
    ndjson: Arc<[u8]>,
    /// Its records (one NDJSON line each).
    lines: u64,
    /// Where its lines end in followed files.
    marks: Vec<(String, Position)>,
    delivery: JoinHandle<Delivery>,
}

/// What delivering one batch came to.
#[derive(Debug, Default)]
struct Delivery {
    delivered: u64,
    /// Lines the daemon refused (each refusal is reported on stderr).
    refused: u64,
    retried: u64,
    /// Why the rest was not delivered: the daemon stayed away, or refused
    /// the token. The batch then goes to the spool whole.
    failure: Option<ApiFailure>,
}

impl Delivery {
    /// Of a batch's `lines`, those neither delivered nor refused.
    fn left(&self, lines: u64) -> u64 {
        lines.saturating_sub(self.delivered + self.refused)
    }
}

/// The journal of the checkpoints, after moving them past what a run that
/// stopped without an answer left in it (see [`Journal`]).
fn recover_journal(
    checkpoints: &mut Checkpoints,
    args: &SendArgs,
    spool: &Spool,
) -> anyhow::Result<Journal> {
    let journal = Journal::beside(checkpoints.file());
    let followed: Vec<String> = args
        .files
        .iter()
        .filter(|path| path.as_os_str() != "-")
        .map(|path| crate::follow::key_of(path))
        .collect();
    let recovered = journal.recover(checkpoints, &followed, spool)?;
    if recovered > 0 && args.verbose {
        eprintln!("lsctl: {recovered} batch(es) of the last run go first, under their own keys");
    }
    Ok(journal)
}

pub(crate) async fn send(client: &Client, args: SendArgs) -> anyhow::Result<SendOutcome> {
    let settings = crate::lines::settings_from_args(&args)?;
    let batch_size = args.batch_size as usize;
    let (tx, mut rx) = mpsc::channel::<Item>(batch_size * 4);
    let (stop_readers, stop_rx) = watch::channel(false);
    let mut readers: Vec<JoinHandle<ReaderEnd>> = Vec::new();
    let mut progress = None;
    let mut checkpoints = if args.follow {
        let file = args
            .checkpoint
            .clone()
            .unwrap_or_else(|| crate::spool::state_dir().join("checkpoints.json"));
        Some(Checkpoints::load(file)?)
    } else {
        None
    };
    let spool_dir = args
        .spool_dir
        .clone()
        .unwrap_or_else(|| crate::spool::state_dir().join("spool"));
    // Batches are only ever sent to the daemon they were meant for.
    let spool = Spool::new(
        spool_dir.join(crate::spool::server_dir(client.server())),
        args.spool_max,
    );
    let journal = match &mut checkpoints {
        Some(checkpoints) => Some(recover_journal(checkpoints, &args, &spool)?),
        None => None,
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
    let mut sender = Sender {
        client,
        spool,
        retry_for: args.retry_for,
        checkpoints,
        journal,
        signals: stop_signals()?,
        stop_readers,
        phase: Phase::Running,
        down: false,
        last_probe: Instant::now(),
        outcome: SendOutcome::default(),
        progress,
        in_flight: VecDeque::new(),
        order: Order::new(),
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
            // Room for at least one: `recv_many` answers 0 only once the
            // channel is closed and empty.
            let room = batch_size.saturating_sub(pending.len()).max(1);
            tokio::select! {
                // All that is waiting at once: one wake-up per burst of
                // records rather than one per record.
                received = rx.recv_many(&mut pending, room) => {
                    ended = received == 0;
                    flush = pending.len() >= batch_size;
                }
                _ = ticker.tick() => flush = true,
                _ = self.signals.recv() => self.signalled(),
                done = oldest(&mut self.in_flight), if !self.in_flight.is_empty() => {
                    if !self.settle(done) {
                        return self.stop(rx, readers).await;
                    }
                }
            }
            if self.phase == Phase::Abandoned {
                if !self.abandon_in_flight().await {
                    return self.stop(rx, readers).await;
                }
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
                    if !self.dispatch(batch).await {
                        self.outcome.undelivered += items.count() as u64;
                        return self.stop(rx, readers).await;
                    }
                }
            }
            if ended {
                if !self.settle_all().await {
                    return self.stop(rx, readers).await;
                }
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

    /// Gives up: what is left in flight, in the channel and in the readers
    /// is counted. Batches in flight are not waited for; those the daemon
    /// has already answered count as it answered.
    async fn stop(&mut self, rx: &mut mpsc::Receiver<Item>, readers: Vec<JoinHandle<ReaderEnd>>) {
        for batch in std::mem::take(&mut self.in_flight) {
            batch.delivery.abort();
            let lines = batch.lines;
            match batch.delivery.await {
                Ok(delivery) => {
                    self.count(&delivery);
                    if delivery.failure.is_some() {
                        self.outcome.undelivered += delivery.left(lines);
                    }
                }
                Err(_) => self.outcome.undelivered += lines,
            }
        }
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

    /// Starts delivering one batch, after waiting for a free place in
    /// flight; spools it instead while the daemon is away. False when
    /// sending must stop.
    async fn dispatch(&mut self, batch: Vec<Item>) -> bool {
        let lines = batch.len() as u64;
        let (ndjson, marks) = encode(batch);
        let key = uuid::Uuid::now_v7().to_string();
        while self.in_flight.len() >= IN_FLIGHT && !self.down && self.phase != Phase::Abandoned {
            if !self.settle_oldest().await {
                self.outcome.undelivered += lines;
                return false;
            }
        }
        if self.down || self.phase == Phase::Abandoned {
            // The batches before it first: their answers move the
            // checkpoints before its own marks may.
            if !self.settle_all().await {
                self.outcome.undelivered += lines;
                return false;
            }
            let fate = self.spool_batch(&key, &ndjson);
            return self.advance(fate, marks);
        }
        if let Some(journal) = &self.journal
            && let Err(e) = journal.write(&key, &ndjson, &marks)
        {
            eprintln!("lsctl: {e:#}");
        }
        let ndjson: Arc<[u8]> = ndjson.into();
        let delivery = tokio::spawn(deliver(
            self.client.clone(),
            (Arc::clone(&ndjson), lines),
            (key.clone(), Some(self.order.place())),
            self.retry_for,
        ));
        self.in_flight.push_back(InFlight {
            key,
            ndjson,
            lines,
            marks,
            delivery,
        });
        true
    }

    /// Waits for the oldest batch in flight, watching for signals, and
    /// handles its answer. False when sending must stop.
    async fn settle_oldest(&mut self) -> bool {
        let done = Self::watched(
            &mut self.signals,
            &mut self.phase,
            &self.stop_readers,
            oldest(&mut self.in_flight),
        )
        .await;
        match done {
            Some(done) => self.settle(done),
            None => self.abandon_in_flight().await,
        }
    }

    /// Waits for every batch in flight, oldest first. False when sending
    /// must stop.
    async fn settle_all(&mut self) -> bool {
        while !self.in_flight.is_empty() {
            if !self.settle_oldest().await {
                return false;
            }
        }
        true
    }

    /// Handles the answer to the oldest batch in flight: delivered, or
    /// spooled whole if the daemon did not take it; then the checkpoints
    /// move. False when sending must stop.
    fn settle(&mut self, delivery: Delivery) -> bool {
        let batch = self.in_flight.pop_front().expect("a batch in flight");
        self.count(&delivery);
        let left = delivery.left(batch.lines);
        let fate = match delivery.failure {
            None => Fate::Handled,
            Some(failure) if failure.is_access_denied() => {
                self.outcome.undelivered += left;
                self.outcome.denied = Some(failure);
                return false;
            }
            Some(failure) => {
                eprintln!(
                    "lsctl: gave up after {}: {failure}",
                    humantime::format_duration(self.retry_for)
                );
                self.down = true;
                self.last_probe = Instant::now();
                self.spool_batch(&batch.key, &batch.ndjson)
            }
        };
        self.advance_past(fate, batch)
    }

    /// Delivery was abandoned: batches the daemon has answered are handled
    /// as it answered, the others are cancelled and spooled whole (their
    /// keys make a replay of what the daemon did store harmless). False
    /// when sending must stop.
    async fn abandon_in_flight(&mut self) -> bool {
        while let Some(front) = self.in_flight.front() {
            let handled = if front.delivery.is_finished() {
                let done = oldest(&mut self.in_flight).await;
                self.settle(done)
            } else {
                let batch = self.in_flight.pop_front().expect("a batch in flight");
                batch.delivery.abort();
                self.down = true;
                let fate = self.spool_batch(&batch.key, &batch.ndjson);
                self.advance_past(fate, batch)
            };
            if !handled {
                return false;
            }
        }
        true
    }

    /// [`Sender::advance`] past a batch that was in flight, which the
    /// journal then forgets.
    fn advance_past(&mut self, fate: Fate, batch: InFlight) -> bool {
        let advanced = self.advance(fate, batch.marks);
        if advanced && let Some(journal) = &self.journal {
            journal.forget(&batch.key);
        }
        advanced
    }

    /// Once a batch is delivered or spooled, the checkpoints move past its
    /// lines. False when sending must stop.
    fn advance(&mut self, fate: Fate, marks: Vec<(String, Position)>) -> bool {
        if !matches!(fate, Fate::Handled) {
            return false;
        }
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
        true
    }

    /// Adds what became of a batch's lines to the outcome.
    fn count(&mut self, delivery: &Delivery) {
        self.outcome.delivered += delivery.delivered;
        self.outcome.undelivered += delivery.refused;
        self.outcome.retried += delivery.retried;
        if delivery.delivered > 0
            && let Some(bar) = &self.progress
        {
            bar.set_message(format!("{} lines sent", self.outcome.delivered));
        }
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

    /// Sends what the spool holds, oldest first, one batch at a time. False
    /// when sending must stop (the token was refused).
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
            let lines = count_lines(&ndjson);
            // A daemon known to be away gets one attempt.
            let retry_for = if self.down {
                Duration::ZERO
            } else {
                self.retry_for
            };
            let delivery = Self::watched(
                &mut self.signals,
                &mut self.phase,
                &self.stop_readers,
                // One at a time: in order without a place.
                deliver(
                    self.client.clone(),
                    (ndjson.into(), lines),
                    (batch.key.clone(), None),
                    retry_for,
                ),
            )
            .await;
            let Some(delivery) = delivery else {
                self.down = true;
                return true;
            };
            self.count(&delivery);
            match delivery.failure {
                None => {
                    self.spool.remove(&batch);
                    self.down = false;
                }
                Some(failure) if failure.is_access_denied() => {
                    self.outcome.denied = Some(failure);
                    return false;
                }
                Some(_) => {
                    self.down = true;
                    return true;
                }
            }
        }
        self.down = false;
        true
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

/// A batch as the NDJSON body it is sent (and spooled) as, with the marks
/// of its records.
fn encode(batch: Vec<Item>) -> (Vec<u8>, Vec<(String, Position)>) {
    let mut marks = Vec::new();
    let mut ndjson = Vec::new();
    for (record, mark) in batch {
        serde_json::to_writer(&mut ndjson, &record).expect("records serialize");
        ndjson.push(b'\n');
        marks.extend(mark);
    }
    (ndjson, marks)
}

/// Delivers a batch, splitting it when the daemon finds it too large (the
/// parts are named KEY.1 and KEY.2, so a replay is named the same way). A
/// refused part is reported and counted; a failure stops at the part that
/// failed. The batch comes with its number of lines, known to the caller,
/// and its place among the batches in flight, if any.
async fn deliver(
    client: Client,
    (ndjson, lines): (Arc<[u8]>, u64),
    (key, place): (String, Option<Place>),
    retry_for: Duration,
) -> Delivery {
    let mut delivery = Delivery::default();
    let mut parts = vec![(0..ndjson.len(), key, lines)];
    while let Some((range, key, lines)) = parts.pop() {
        let part = &ndjson[range.clone()];
        let (result, retries) =
            crate::client::ingest_with_retries(&client, (part, &key), place.as_ref(), retry_for)
                .await;
        delivery.retried += u64::from(retries);
        match result {
            Ok(()) => delivery.delivered += lines,
            Err(ApiFailure::Rejected {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..
            }) if lines > 1 => {
                let half = lines / 2;
                let cut = range.start + nth_line_end(part, half);
                parts.push((cut..range.end, format!("{key}.2"), lines - half));
                parts.push((range.start..cut, format!("{key}.1"), half));
            }
            Err(failure @ ApiFailure::Rejected { .. }) if !failure.is_access_denied() => {
                eprintln!("lsctl: the daemon refused {lines} line(s): {failure}");
                delivery.refused += lines;
            }
            Err(failure) => {
                delivery.failure = Some(failure);
                break;
            }
        }
    }
    delivery
}

/// The answer to the oldest batch in flight (there must be one); a delivery
/// that panicked counts as the daemon being away, so the batch is spooled.
async fn oldest(in_flight: &mut VecDeque<InFlight>) -> Delivery {
    let batch = in_flight.front_mut().expect("a batch in flight");
    match (&mut batch.delivery).await {
        Ok(delivery) => delivery,
        Err(e) => Delivery {
            failure: Some(ApiFailure::Retryable {
                reason: format!("delivering a batch failed: {e}"),
                retry_after: None,
            }),
            ..Delivery::default()
        },
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
