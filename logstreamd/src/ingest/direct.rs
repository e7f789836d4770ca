//! The embedded pipeline: one writer task group-commits whatever all requests
//! handed it since its last commit, then answers them all. With the
//! embedded store, the group is appended to a journal instead and stored
//! behind it (see `journaled`).
//!
//! A store commit costs about the same for one record as for thousands, so
//! while one batch commits the next gathers. The queue is bounded in records
//! (not requests); when it is full, `submit` fails at once with `Full` and the
//! API answers 429 rather than buffer without bound. A request larger than
//! the whole queue fails with `TooLarge` (413): waiting would never help.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use logstream_shared::LogRecord;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Mutex, OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::journaled::{CaughtUp, Journaled, Progress};
use super::{IdempotencyKey, PendingLimit, Sink, SinkError, Submitted, Turn};
use crate::store::{KnownKey, Store, StoreError};

/// How long the writer waits for more requests before a commit, when
/// requests are arriving concurrently. A commit costs 1–4 ms whatever its
/// size, so this costs little latency and can double the rows per commit.
const LINGER: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct DirectSinkConfig {
    /// Records accepted but not yet committed, at most.
    pub max_pending_records: usize,
    /// Records in one commit, at most.
    pub max_batch_records: usize,
    /// Counts the records answered from the journal and not yet stored.
    pub unstored: Gauge,
}

impl Default for DirectSinkConfig {
    fn default() -> Self {
        DirectSinkConfig {
            max_pending_records: 200_000,
            max_batch_records: 50_000,
            unstored: Gauge::default(),
        }
    }
}

pub(super) struct Job {
    pub(super) records: Vec<LogRecord>,
    pub(super) key: Option<IdempotencyKey>,
    pub(super) done: oneshot::Sender<Result<Submitted, SinkError>>,
    /// Holds the job's share of the queue until it is answered (or, with a
    /// journal, until the store has its records).
    pub(super) permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
pub struct DirectSink {
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    pending: PendingLimit,
    writer: Mutex<Option<JoinHandle<()>>>,
    progress: Option<Progress>,
}

/// How the writer makes a group of requests durable.
enum Durable {
    /// A commit to the store.
    Commit,
    /// An append to the journal, stored behind it (stores with a journal).
    Journal(Journaled),
}

impl DirectSink {
    /// Starts the writer; for a store with a journal, first opens the
    /// journal and hands what the store lacks of it to be stored.
    pub async fn start(
        store: Arc<dyn Store>,
        config: DirectSinkConfig,
    ) -> anyhow::Result<DirectSink> {
        let (durable, progress) = match store.journal_dir() {
            Some(dir) => {
                let (journaled, progress) =
                    Journaled::open(Arc::clone(&store), &dir, config.unstored.clone()).await?;
                (Durable::Journal(journaled), Some(progress))
            }
            None => (Durable::Commit, None),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(store, durable, rx, config.max_batch_records));
        Ok(DirectSink {
            queue: Mutex::new(Some(tx)),
            pending: PendingLimit::new(config.max_pending_records),
            writer: Mutex::new(Some(writer)),
            progress,
        })
    }

    /// The store as queries should read it: with a journal, each query
    /// waits until the store holds what was answered before it came in.
    pub fn readable(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        match &self.progress {
            Some(progress) => Arc::new(CaughtUp {
                store,
                progress: progress.clone(),
            }),
            None => store,
        }
    }
}

#[async_trait]
impl Sink for DirectSink {
    async fn submit(
        &self,
        records: Vec<LogRecord>,
        key: Option<IdempotencyKey>,
        turn: Turn,
    ) -> Result<Submitted, SinkError> {
        let permit = self.pending.admit(records.len())?;
        let (done, answer) = oneshot::channel();
        let job = Job {
            records,
            key,
            done,
            permit,
        };
        {
            let queue = self.queue.lock().await;
            let queue = queue.as_ref().ok_or(SinkError::Closed)?;
            queue.send(job).map_err(|_| SinkError::Closed)?;
        }
        // The writer commits jobs in the order they were queued.
        drop(turn);
        answer
            .await
            .map_err(|_| SinkError::Unavailable("the writer stopped".into()))?
    }

    async fn shutdown(&self) {
        // Closing the queue lets the writer finish what it holds, then exit.
        self.queue.lock().await.take();
        if let Some(writer) = self.writer.lock().await.take()
            && let Err(e) = writer.await
        {
            tracing::error!(error = %e, "ingest writer failed");
        }
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut durable: Durable,
    mut queue: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
) {
    let mut concurrent = false;
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut rows = jobs[0].records.len();
        // When the last commit served several requests, their clients are
        // about to send again: lingering a moment lets one commit take them
        // all instead of splitting them over two. A lone client is not
        // delayed, nor a journal append (it takes less than the linger).
        let linger = match durable {
            Durable::Commit if concurrent => LINGER,
            _ => Duration::ZERO,
        };
        let linger_until = tokio::time::Instant::now() + linger;
        while rows < max_batch {
            let next = match queue.try_recv() {
                Ok(job) => Some(job),
                Err(_) => tokio::time::timeout_at(linger_until, queue.recv())
                    .await
                    .ok()
                    .flatten(),
            };
            let Some(job) = next else { break };
            rows += job.records.len();
            jobs.push(job);
        }
        concurrent = jobs.len() > 1;
        match &mut durable {
            Durable::Commit => commit(store.as_ref(), jobs, rows).await,
            Durable::Journal(journaled) => journaled.commit(store.as_ref(), jobs, rows).await,
        }
    }
    if let Durable::Journal(journaled) = durable {
        journaled.finish().await;
    }
}

/// Commits the jobs' records in one transaction and answers every job. A
/// job whose idempotency key was stored before is answered without storing;
/// one that repeats the key of an earlier job of this group gets that job's
/// outcome once it is known. If the commit fails, each job is tried on its
/// own, so that one request the store cannot take does not fail the others
/// (but not when the disk is full: then none fits).
async fn commit(store: &dyn Store, jobs: Vec<Job>, rows: usize) {
    let started = std::time::Instant::now();
    let Grouped {
        mut jobs,
        repeats,
        repeated_rows,
    } = match store.known_keys(&keys_of(&jobs)).await {
        Ok(stored) => group_by_key(jobs, &stored),
        Err(e) => return fail_all(jobs, &SinkError::from_store(&e)),
    };
    if jobs.is_empty() {
        // Every job was answered: stored before (no repeat has a leader here).
        return;
    }
    // Each job's share of the batch, for committing them one by one.
    let lengths: Vec<usize> = jobs.iter().map(|j| j.records.len()).collect();
    let (keys, batch) = contents(&mut jobs, rows - repeated_rows);
    let outcomes: Vec<Result<Submitted, SinkError>> = match store.insert_keyed(&batch, &keys).await
    {
        Ok(()) => {
            tracing::debug!(rows = batch.len(), requests = jobs.len(), elapsed = ?started.elapsed(), "committed batch");
            jobs.iter().map(|_| Ok(Submitted::Stored)).collect()
        }
        // No smaller commit fits either: trying each would only hammer
        // the full disk. The store logged that it filled up.
        Err(e) if e.is_disk_full() => {
            tracing::debug!(error = %e, rows, requests = jobs.len(), "commit failed: the disk is full");
            jobs.iter().map(|_| Err(SinkError::DiskFull)).collect()
        }
        Err(e) if jobs.len() == 1 => vec![Err(rejected(&e))],
        Err(e) => {
            tracing::warn!(error = %e, rows, requests = jobs.len(), "group commit failed; committing its requests one by one");
            let mut outcomes = Vec::with_capacity(jobs.len());
            let mut start = 0;
            for (job, length) in jobs.iter().zip(lengths) {
                let keys: Vec<IdempotencyKey> = job.key.iter().cloned().collect();
                let records = &batch[start..start + length];
                start += length;
                let result = store.insert_keyed(records, &keys).await;
                outcomes.push(result.map(|()| Submitted::Stored).map_err(|e| rejected(&e)));
            }
            outcomes
        }
    };
    answer(jobs, repeats, outcomes);
}

/// Answers each job with its outcome, and each repeat as its leader.
/// Returns the jobs' queue permits, for a caller that holds them longer.
pub(super) fn answer(
    jobs: Vec<Job>,
    repeats: Vec<(Job, usize)>,
    outcomes: Vec<Result<Submitted, SinkError>>,
) -> Vec<OwnedSemaphorePermit> {
    let mut permits = Vec::with_capacity(jobs.len() + repeats.len());
    for (repeat, leader) in repeats {
        let ids = jobs[leader].key.as_ref().map(|k| k.ids.clone());
        let outcome = outcomes[leader]
            .clone()
            .map(|_| Submitted::AlreadyStored(ids.unwrap_or_default()));
        let _ = repeat.done.send(outcome);
        permits.push(repeat.permit);
    }
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        // A client that went away no longer waits for its answer; its
        // records are stored all the same.
        let _ = job.done.send(outcome);
        permits.push(job.permit);
    }
    permits
}

/// Answers every job with `error`.
pub(super) fn fail_all(jobs: Vec<Job>, error: &SinkError) {
    for job in jobs {
        let _ = job.done.send(Err(error.clone()));
    }
}

/// The answer to a request the store did not take.
fn rejected(error: &StoreError) -> SinkError {
    if !error.is_disk_full() {
        tracing::error!(error = %error, "commit failed; rejecting the request");
    }
    SinkError::from_store(error)
}

/// A group of jobs to commit, and those that repeat one of them.
pub(super) struct Grouped {
    pub(super) jobs: Vec<Job>,
    /// Jobs with the key (and body) of `jobs[index]`: answered as it is.
    pub(super) repeats: Vec<(Job, usize)>,
    pub(super) repeated_rows: usize,
}

/// The keys and the records (`rows` of them) of the jobs, in order; the
/// records move out of the jobs (only their keys are needed to answer).
pub(super) fn contents(jobs: &mut [Job], rows: usize) -> (Vec<IdempotencyKey>, Vec<LogRecord>) {
    let keys = jobs.iter().filter_map(|j| j.key.clone()).collect();
    let mut records = Vec::with_capacity(rows);
    for job in jobs {
        records.append(&mut job.records);
    }
    (keys, records)
}

/// The idempotency keys of the jobs that have one.
pub(super) fn keys_of(jobs: &[Job]) -> Vec<String> {
    jobs.iter()
        .filter_map(|j| j.key.as_ref().map(|k| k.key.clone()))
        .collect()
}

/// Answers the jobs whose idempotency key was `stored` before, sets aside
/// those repeating a key of an earlier job in this group, and returns the
/// rest to commit. Only the writer task writes, so a key cannot be stored
/// between the check of `stored` and the commit.
pub(super) fn group_by_key(jobs: Vec<Job>, stored: &HashMap<String, KnownKey>) -> Grouped {
    let mut grouped = Grouped {
        jobs: Vec::with_capacity(jobs.len()),
        repeats: Vec::new(),
        repeated_rows: 0,
    };
    // Keys of this group: fingerprint and the index of the job taking it.
    let mut taken: HashMap<String, (String, usize)> = HashMap::new();
    for job in jobs {
        let Some(key) = &job.key else {
            grouped.jobs.push(job);
            continue;
        };
        let reused = || SinkError::KeyReused {
            key: key.key.clone(),
        };
        let answer = if let Some(known) = stored.get(&key.key) {
            if known.fingerprint == key.fingerprint {
                // A key stored before its ids were (at most a day after an
                // upgrade) answers with the retry's own.
                let ids = known.ids.clone().unwrap_or_else(|| key.ids.clone());
                Ok(Submitted::AlreadyStored(ids))
            } else {
                Err(reused())
            }
        } else if let Some((fingerprint, leader)) = taken.get(&key.key) {
            if *fingerprint == key.fingerprint {
                grouped.repeated_rows += job.records.len();
                let leader = *leader;
                grouped.repeats.push((job, leader));
                continue;
            }
            Err(reused())
        } else {
            taken.insert(
                key.key.clone(),
                (key.fingerprint.clone(), grouped.jobs.len()),
            );
            grouped.jobs.push(job);
            continue;
        };
        grouped.repeated_rows += job.records.len();
        let _ = job.done.send(answer);
    }
    grouped
}
