//! The embedded pipeline: one writer task group-commits whatever all requests
//! handed it since its last commit, then answers them all.
//!
//! A store commit costs about the same for one record as for thousands, so
//! while one batch commits the next gathers. The queue is bounded in records
//! (not requests); when it is full, `submit` fails at once with `Full` and the
//! API answers 429 rather than buffer without bound. A request larger than
//! the whole queue fails with `TooLarge` (413): waiting would never help.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use logstream_shared::LogRecord;
use tokio::sync::{Mutex, OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{IdempotencyKey, PendingLimit, Sink, SinkError, Submitted, Turn};
use crate::store::{Store, StoreError};

/// How long the writer waits for more requests before a commit, when
/// requests are arriving concurrently. A commit costs 1–4 ms whatever its
/// size, so this costs little latency and can double the rows per commit.
const LINGER: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy)]
pub struct DirectSinkConfig {
    /// Records accepted but not yet committed, at most.
    pub max_pending_records: usize,
    /// Records in one commit, at most.
    pub max_batch_records: usize,
}

impl Default for DirectSinkConfig {
    fn default() -> Self {
        DirectSinkConfig {
            max_pending_records: 200_000,
            max_batch_records: 50_000,
        }
    }
}

struct Job {
    records: Vec<LogRecord>,
    key: Option<IdempotencyKey>,
    done: oneshot::Sender<Result<Submitted, SinkError>>,
    /// Holds the job's share of the queue until it is answered.
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
pub struct DirectSink {
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    pending: PendingLimit,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl DirectSink {
    pub fn start(store: Arc<dyn Store>, config: DirectSinkConfig) -> DirectSink {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(store, rx, config.max_batch_records));
        DirectSink {
            queue: Mutex::new(Some(tx)),
            pending: PendingLimit::new(config.max_pending_records),
            writer: Mutex::new(Some(writer)),
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
            _permit: permit,
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
    mut queue: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
) {
    let mut concurrent = false;
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut rows = jobs[0].records.len();
        // When the last commit served several requests, their clients are
        // about to send again: lingering a moment lets one commit take them
        // all instead of splitting them over two. A lone client is not delayed.
        let linger_until =
            tokio::time::Instant::now() + if concurrent { LINGER } else { Duration::ZERO };
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
        commit(store.as_ref(), jobs, rows).await;
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
        jobs,
        repeats,
        repeated_rows,
    } = match group_by_key(store, jobs).await {
        Ok(grouped) => grouped,
        Err((jobs, e)) => {
            let error = SinkError::from_store(&e);
            for job in jobs {
                let _ = job.done.send(Err(error.clone()));
            }
            return;
        }
    };
    if jobs.is_empty() {
        // Every job was answered: stored before (no repeat has a leader here).
        return;
    }
    let keys: Vec<IdempotencyKey> = jobs.iter().filter_map(|j| j.key.clone()).collect();
    let mut batch = Vec::with_capacity(rows - repeated_rows);
    for job in &jobs {
        batch.extend_from_slice(&job.records);
    }
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
            for job in &jobs {
                let keys: Vec<IdempotencyKey> = job.key.iter().cloned().collect();
                let result = store.insert_keyed(&job.records, &keys).await;
                outcomes.push(result.map(|()| Submitted::Stored).map_err(|e| rejected(&e)));
            }
            outcomes
        }
    };
    for (repeat, leader) in repeats {
        let ids = jobs[leader].key.as_ref().map(|k| k.ids.clone());
        let outcome = outcomes[leader]
            .clone()
            .map(|_| Submitted::AlreadyStored(ids.unwrap_or_default()));
        let _ = repeat.done.send(outcome);
    }
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        // A client that went away no longer waits for its answer; its
        // records are stored all the same.
        let _ = job.done.send(outcome);
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
struct Grouped {
    jobs: Vec<Job>,
    /// Jobs with the key (and body) of `jobs[index]`: answered as it is.
    repeats: Vec<(Job, usize)>,
    repeated_rows: usize,
}

/// Answers the jobs whose idempotency key was stored before, sets aside
/// those repeating a key of an earlier job in this group, and returns the
/// rest to commit. Only this task writes, so a key cannot be stored between
/// this check and the commit.
async fn group_by_key(
    store: &dyn Store,
    jobs: Vec<Job>,
) -> Result<Grouped, (Vec<Job>, crate::store::StoreError)> {
    let keys: Vec<String> = jobs
        .iter()
        .filter_map(|j| j.key.as_ref().map(|k| k.key.clone()))
        .collect();
    let stored = match store.known_keys(&keys).await {
        Ok(stored) => stored,
        Err(e) => return Err((jobs, e)),
    };
    let mut grouped = Grouped {
        jobs: Vec::with_capacity(jobs.len()),
        repeats: Vec::new(),
        repeated_rows: 0,
    };
    // Keys of this group: fingerprint and the index of the job taking it.
    let mut taken: std::collections::HashMap<String, (String, usize)> = Default::default();
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
    Ok(grouped)
}
