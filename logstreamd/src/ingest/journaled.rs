//! The embedded pipeline with a journal (see [`journal`](super::journal)):
//! the writer appends each group of requests to the journal and answers
//! them once it is synced; a second task stores the journal's frames in
//! the database behind it, in larger commits. Checkpoints and slow commits
//! hold up only that task.
//!
//! What makes this safe to answer early:
//! - after a crash, the frames the store does not hold are stored again at
//!   start (the store records each commit's last frame in the commit);
//! - a query waits until the store holds every frame answered before it
//!   came in (see [`CaughtUp`]), so a client reads its own writes;
//! - an idempotency key counts as stored from its frame's append on;
//! - the queue's permits of a frame's requests are held until the store
//!   has it, so `--max-pending-records` still bounds what waits in memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use logstream_shared::LogRecord;
use logstream_shared::query::Table;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc, watch};
use tokio::task::JoinHandle;

use super::direct::{Grouped, Job, answer, contents, fail_all, group_by_key, keys_of};
use super::journal::{Frame, Journal};
use super::{SinkError, Submitted};
use crate::store::{
    FacetCount, IdempotencyKey, KnownKey, SearchPage, SearchRequest, Selection, Store,
    StoreCounter, TableRequest,
};

/// The store's commits come at most this often while no query waits for
/// one (a query that must see what was answered before it hurries the next
/// commit): a small commit costs DuckDB almost as much as a larger one.
/// Single-record POSTs from 50 clients: 21-24k/s with 50 ms, 17-20k/s with
/// 10 ms, the daemon using less CPU at the higher rate.
const STORE_INTERVAL: Duration = Duration::from_millis(50);

/// Records the storing task gathers into one commit, when frames wait: the
/// rate DuckDB inserts at peaks with transactions of a few thousand rows
/// (`logstream-bench --txn-rows`: 5000-row ones 1.24-1.36x of 1000-row
/// ones, 50,000-row ones 0.64-0.72x).
const STORE_BATCH_RECORDS: usize = 5_000;

/// A query waits at most this long for the store to catch up with the
/// journal; past it (the store is failing: a full disk), it is answered
/// from what the store holds.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(2);

/// Keys of frames the store does not hold yet, as `known_keys` would
/// answer for them once it does.
#[derive(Debug, Clone, Default)]
struct PendingKeys(Arc<Mutex<HashMap<String, KnownKey>>>);

impl PendingKeys {
    fn remember(&self, keys: &[IdempotencyKey]) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let known = KnownKey {
                fingerprint: key.fingerprint.clone(),
                ids: Some(key.ids.clone()),
            };
            pending.insert(key.key.clone(), known);
        }
    }

    fn forget(&self, keys: &[IdempotencyKey]) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            pending.remove(&key.key);
        }
    }

    /// Of `keys`, those pending, and the rest.
    fn split(&self, keys: Vec<String>) -> (HashMap<String, KnownKey>, Vec<String>) {
        let pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = HashMap::new();
        let mut rest = Vec::new();
        for key in keys {
            match pending.get(&key) {
                Some(known) => {
                    found.insert(key, known.clone());
                }
                None => rest.push(key),
            }
        }
        (found, rest)
    }
}

/// How far the journal is answered, and how far the store holds it.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    acknowledged: watch::Receiver<u64>,
    stored: watch::Receiver<u64>,
    /// Tells the storing task to commit without waiting out its interval.
    hurry: Arc<Notify>,
}

impl Progress {
    /// Waits until the store holds every frame answered by now.
    async fn caught_up(&self) {
        let target = *self.acknowledged.borrow();
        let mut stored = self.stored.clone();
        if *stored.borrow() < target {
            self.hurry.notify_one();
        }
        let waited = tokio::time::timeout(CATCH_UP_LIMIT, stored.wait_for(|s| *s >= target));
        // Timed out, or the storing task has stopped.
        if !matches!(waited.await, Ok(Ok(_))) {
            tracing::warn!(
                frame = target,
                "the store is behind the ingest journal; answering a query from what it holds"
            );
        }
    }
}

/// A number of records as the unstored gauge counts it.
fn gauge_count(records: usize) -> i64 {
    i64::try_from(records).unwrap_or(i64::MAX)
}

/// A frame on its way into the store, with its requests' queue permits.
struct ToStore {
    frame: Frame,
    _permits: Vec<OwnedSemaphorePermit>,
}

/// The writer's side: appends and answers.
pub(super) struct Journaled {
    /// `None` only while an append runs on a blocking thread.
    journal: Option<Journal>,
    pending: PendingKeys,
    to_store: mpsc::UnboundedSender<ToStore>,
    acknowledged: watch::Sender<u64>,
    stored: watch::Receiver<u64>,
    storing: JoinHandle<()>,
    unstored: Gauge,
}

impl Journaled {
    /// Opens the store's journal in `dir`, hands the frames the store does
    /// not hold to the storing task (so the daemon serves at once while
    /// they are stored), and starts that task.
    pub(super) async fn open(
        store: Arc<dyn Store>,
        dir: &Path,
        unstored: Gauge,
    ) -> anyhow::Result<(Journaled, Progress)> {
        use anyhow::Context as _;
        let applied = store.journal_applied().await?;
        let (journal, unapplied) = {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || Journal::open(&dir, applied)).await?
        }
        .with_context(|| format!("cannot open the ingest journal {}", dir.display()))?;
        if !unapplied.is_empty() {
            tracing::info!(
                frames = unapplied.len(),
                "storing what the ingest journal holds beyond the store (the daemon stopped without draining)"
            );
        }
        let last = unapplied.last().map_or(applied, |f| f.number);
        let (acknowledged, acknowledged_rx) = watch::channel(last);
        let (stored_tx, stored) = watch::channel(applied);
        let hurry = Arc::new(Notify::new());
        let (to_store, frames) = mpsc::unbounded_channel();
        let pending = PendingKeys::default();
        for frame in unapplied {
            pending.remember(&frame.keys);
            unstored.inc_by(gauge_count(frame.records.len()));
            let _ = to_store.send(ToStore {
                frame,
                _permits: Vec::new(),
            });
        }
        let storing = tokio::spawn(store_frames(
            store,
            frames,
            pending.clone(),
            stored_tx,
            unstored.clone(),
            Arc::clone(&hurry),
        ));
        let progress = Progress {
            acknowledged: acknowledged_rx,
            stored: stored.clone(),
            hurry,
        };
        let journaled = Journaled {
            journal: Some(journal),
            pending,
            to_store,
            acknowledged,
            stored,
            storing,
            unstored,
        };
        Ok((journaled, progress))
    }

    /// Once nothing more is appended: waits until the store holds every
    /// frame, then deletes the journal's segments (so that a database file
    /// replaced by a fresh one does not get old frames).
    pub(super) async fn finish(self) {
        drop(self.to_store);
        if let Err(e) = self.storing.await {
            tracing::error!(error = %e, "storing the ingest journal failed");
            return;
        }
        let (Some(mut journal), stored) = (self.journal, *self.stored.borrow()) else {
            return;
        };
        if stored + 1 == journal.next_number()
            && let Err(e) = journal.forget_all()
        {
            tracing::warn!(error = %e, "cannot delete the stored ingest journal");
        }
    }

    /// Journals the jobs' records in one synced append and answers every
    /// job, as `direct::commit` does by committing them.
    pub(super) async fn commit(&mut self, store: &dyn Store, jobs: Vec<Job>, rows: usize) {
        let (mut known, rest) = self.pending.split(keys_of(&jobs));
        match store.known_keys(&rest).await {
            Ok(stored) => known.extend(stored),
            Err(e) => return fail_all(jobs, &SinkError::from_store(&e)),
        }
        let Grouped {
            mut jobs,
            repeats,
            repeated_rows,
        } = group_by_key(jobs, &known);
        if jobs.is_empty() {
            return;
        }
        let (keys, records) = contents(&mut jobs, rows - repeated_rows);
        match self.append(records, keys).await {
            Ok(frame) => {
                self.pending.remember(&frame.keys);
                self.unstored.inc_by(gauge_count(frame.records.len()));
                self.acknowledged.send_replace(frame.number);
                let outcomes = jobs.iter().map(|_| Ok(Submitted::Stored)).collect();
                let permits = answer(jobs, repeats, outcomes);
                let _ = self.to_store.send(ToStore {
                    frame,
                    _permits: permits,
                });
            }
            Err(e) => {
                let error = append_failed(store, &e);
                let outcomes = jobs.iter().map(|_| Err(error.clone())).collect();
                answer(jobs, repeats, outcomes);
            }
        }
    }

    /// Appends on a blocking thread (the write and its sync), first
    /// deleting the segments the store holds whole.
    async fn append(
        &mut self,
        records: Vec<LogRecord>,
        keys: Vec<IdempotencyKey>,
    ) -> std::io::Result<Frame> {
        let mut journal = self.journal.take().expect("one append at a time");
        let stored = *self.stored.borrow();
        let (journal, result) = tokio::task::spawn_blocking(move || {
            // Deletes nothing (and touches no file) until a segment is
            // stored whole.
            if let Err(e) = journal.forget_through(stored) {
                tracing::warn!(error = %e, "cannot delete a stored segment of the ingest journal");
            }
            let result = journal.append(records, keys);
            (journal, result)
        })
        .await
        .expect("a journal append does not panic");
        self.journal = Some(journal);
        result
    }
}

/// The answer to requests whose append failed. A full disk is the store's
/// too (the journal lies beside it), so its health reports it.
fn append_failed(store: &dyn Store, error: &std::io::Error) -> SinkError {
    if error.kind() == std::io::ErrorKind::StorageFull {
        store.disk_ran_out(format!("appending to the ingest journal: {error}"));
        SinkError::DiskFull
    } else {
        tracing::error!(error = %error, "cannot append to the ingest journal; rejecting the requests");
        SinkError::Unavailable(format!("cannot write the ingest journal: {error}"))
    }
}

/// Stores the journal's frames in commit order, all that wait at once (at
/// most about `STORE_BATCH_RECORDS` records), at most one commit per
/// `STORE_INTERVAL` unless a query hurries it.
/// A commit that fails is tried again until it succeeds: its records were
/// answered, so they are never given up.
async fn store_frames(
    store: Arc<dyn Store>,
    mut frames: mpsc::UnboundedReceiver<ToStore>,
    pending: PendingKeys,
    stored: watch::Sender<u64>,
    unstored: Gauge,
    hurry: Arc<Notify>,
) {
    while let Some(first) = frames.recv().await {
        let started = tokio::time::Instant::now();
        let mut batch = vec![first];
        let mut rows = batch[0].frame.records.len();
        while rows < STORE_BATCH_RECORDS
            && let Ok(next) = frames.try_recv()
        {
            rows += next.frame.records.len();
            batch.push(next);
        }
        let last = batch.last().map_or(0, |b| b.frame.number);
        let mut records = Vec::with_capacity(rows);
        let mut keys = Vec::new();
        for to_store in &mut batch {
            records.append(&mut to_store.frame.records);
            keys.append(&mut to_store.frame.keys);
        }
        if !store_until_done(store.as_ref(), &records, &keys, last, &frames).await {
            tracing::warn!(
                frame = last,
                "stopping while the store cannot take the ingest journal's last frames: they stay in the journal, and the next start stores them"
            );
            return;
        }
        pending.forget(&keys);
        unstored.dec_by(gauge_count(records.len()));
        stored.send_replace(last);
        drop(batch);
        tokio::select! {
            () = tokio::time::sleep_until(started + STORE_INTERVAL) => {}
            () = hurry.notified() => {}
        }
    }
}

/// Commits the frames through `last`, retrying with backoff until the
/// store takes them; or, once the writer has stopped (the daemon is
/// stopping), gives up after a failure, leaving them to the next start.
async fn store_until_done(
    store: &dyn Store,
    records: &[LogRecord],
    keys: &[IdempotencyKey],
    last: u64,
    frames: &mpsc::UnboundedReceiver<ToStore>,
) -> bool {
    let mut wait = Duration::from_millis(100);
    loop {
        match store.insert_journaled(records, keys, last).await {
            Ok(()) => return true,
            // The commit may have been durable although it failed (DuckDB
            // invalidates the database when the checkpoint after a commit
            // fails): then storing it again would store it twice.
            Err(_) if matches!(store.journal_applied().await, Ok(applied) if applied >= last) => {
                return true;
            }
            Err(_) if frames.is_closed() => return false,
            Err(e) => {
                if !e.is_disk_full() {
                    tracing::error!(error = %e, records = records.len(), retry_in = ?wait, "cannot store frames of the ingest journal; they stay in the journal and are tried again");
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The store as queries see it: each read first waits until the store
/// holds what the journal answered before the read came in.
#[derive(Debug)]
pub(crate) struct CaughtUp {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) progress: Progress,
}

#[async_trait]
impl Store for CaughtUp {
    fn describe(&self) -> String {
        self.store.describe()
    }

    fn tail(&self) -> Option<Arc<dyn crate::tail::Tail>> {
        self.store.tail()
    }

    async fn insert(&self, records: &[LogRecord]) -> crate::store::Result<()> {
        self.store.insert(records).await
    }

    async fn insert_keyed(
        &self,
        records: &[LogRecord],
        keys: &[IdempotencyKey],
    ) -> crate::store::Result<()> {
        self.store.insert_keyed(records, keys).await
    }

    async fn known_keys(&self, keys: &[String]) -> crate::store::Result<HashMap<String, KnownKey>> {
        self.store.known_keys(keys).await
    }

    fn disk_ran_out(&self, why: String) {
        self.store.disk_ran_out(why);
    }

    async fn search(&self, request: SearchRequest) -> crate::store::Result<SearchPage> {
        self.progress.caught_up().await;
        self.store.search(request).await
    }

    async fn record(
        &self,
        id: &str,
        at_ns: Option<i64>,
    ) -> crate::store::Result<Option<LogRecord>> {
        self.progress.caught_up().await;
        self.store.record(id, at_ns).await
    }

    async fn table(&self, request: TableRequest) -> crate::store::Result<Table> {
        self.progress.caught_up().await;
        self.store.table(request).await
    }

    async fn attribute_names(
        &self,
        selection: Selection,
        limit: usize,
    ) -> crate::store::Result<Vec<FacetCount>> {
        self.progress.caught_up().await;
        self.store.attribute_names(selection, limit).await
    }

    async fn drop_days_before(&self, first_kept: NaiveDate) -> crate::store::Result<()> {
        self.store.drop_days_before(first_kept).await
    }

    async fn health(&self) -> crate::store::Result<()> {
        self.store.health().await
    }

    fn counters(&self) -> Vec<StoreCounter> {
        self.store.counters()
    }

    async fn close(&self) -> crate::store::Result<()> {
        self.store.close().await
    }
}
