//! The daemon's HTTP API (the `logstream-client` crate, shared with lstui),
//! and what only lsctl does with it: keep sending a batch until it lands.

use std::time::{Duration, Instant};

use crate::order::Place;

pub(crate) use logstream_client::{ApiFailure, Client};

/// The first and the longest wait between attempts to send a batch.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(5);

/// Keeps trying to store a batch until it is stored, refused, or
/// `retry_for` has passed, backing off exponentially with jitter and
/// honouring Retry-After. One key for every attempt: if an answer is lost
/// after the daemon stored the batch, the retry is recognised and not
/// stored again. `place` keeps it in order with the batches in flight
/// beside it. Answers the outcome and the number of retries.
pub(crate) async fn ingest_with_retries(
    client: &Client,
    (ndjson, key): (&[u8], &str),
    place: Option<&Place>,
    retry_for: Duration,
) -> (Result<(), ApiFailure>, u32) {
    let started = Instant::now();
    let mut retries = 0;
    let mut backoff = logstream_client::Backoff::new(RETRY_FIRST, RETRY_LAST);
    loop {
        let order = place.map(Place::header);
        match client.ingest(ndjson, key, order.as_deref()).await {
            Ok(()) => return (Ok(()), retries),
            Err(ApiFailure::Retryable {
                reason,
                retry_after,
            }) if started.elapsed() < retry_for => {
                let wait = backoff
                    .wait(retry_after)
                    .min(retry_for.saturating_sub(started.elapsed()));
                eprintln!("lsctl: {reason}; retrying in {:.1}s", wait.as_secs_f64());
                tokio::time::sleep(wait).await;
                retries += 1;
            }
            Err(failure) => return (Err(failure), retries),
        }
    }
}
