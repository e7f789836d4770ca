//! Keeps one client's concurrent requests in the order it sent them.
//!
//! A client with several batches in flight (lsctl sends the next while the
//! daemon stores one) has them read and decoded concurrently, so a later
//! batch could reach the pipeline first, and the live tail, which follows
//! commit order, would show an input's lines out of order. A request that
//! says where it stands (`LogStream-Order: STREAM N OLDEST`: batch N of
//! STREAM, every batch before OLDEST answered) waits until batches OLDEST to
//! N-1 of its stream have been handed to the pipeline (or refused), for at
//! most [`MAX_WAIT`]: one that never comes (its connection broke) delays the
//! next only that long, and nothing is refused for being out of order.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long a batch waits for the ones before it.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// The request header that names a batch's place.
pub const HEADER: &str = "logstream-order";

/// Streams not used for this long are forgotten once there are many.
const IDLE: Duration = Duration::from_secs(300);
const MANY_STREAMS: usize = 10_000;

/// Where a batch stands in its client's stream of batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    stream: String,
    batch: u64,
    /// Every batch before this one has been answered.
    oldest: u64,
}

impl std::str::FromStr for Place {
    type Err = String;

    fn from_str(value: &str) -> Result<Place, String> {
        let wrong = || {
            format!(
                "LogStream-Order must be \"STREAM N OLDEST\": a name of 1 to 100 visible ASCII characters, \
                 the batch's number N and the oldest unanswered batch OLDEST (at most N); got \"{value}\""
            )
        };
        let mut parts = value.split_ascii_whitespace();
        let (Some(stream), Some(batch), Some(oldest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(wrong());
        };
        let (Ok(batch), Ok(oldest)) = (batch.parse::<u64>(), oldest.parse::<u64>()) else {
            return Err(wrong());
        };
        if stream.len() > 100 || !stream.bytes().all(|b| b.is_ascii_graphic()) || oldest > batch {
            return Err(wrong());
        }
        Ok(Place {
            stream: stream.to_string(),
            batch,
            oldest,
        })
    }
}

/// The streams' progress.
#[derive(Debug, Default)]
pub struct Sequencer {
    streams: Mutex<HashMap<String, Stream>>,
}

#[derive(Debug)]
struct Stream {
    /// Every batch before this one has had its turn (or was given up on).
    next: watch::Sender<u64>,
    /// Batches past `next` that have had their turn.
    taken: BTreeSet<u64>,
    used: Instant,
}

impl Stream {
    fn new(next: u64) -> Stream {
        Stream {
            next: watch::Sender::new(next),
            taken: BTreeSet::new(),
            used: Instant::now(),
        }
    }

    /// Nothing before `batch` is waited for any more.
    fn skip_to(&mut self, batch: u64) {
        if batch > *self.next.borrow() {
            self.taken = self.taken.split_off(&batch);
            self.next.send_replace(batch);
        }
        self.advance();
    }

    fn take(&mut self, batch: u64) {
        if batch >= *self.next.borrow() {
            self.taken.insert(batch);
            self.advance();
        }
    }

    fn advance(&mut self) {
        let mut next = *self.next.borrow();
        while self.taken.remove(&next) {
            next += 1;
        }
        self.next.send_if_modified(|current| {
            let moved = *current != next;
            *current = next;
            moved
        });
    }
}

impl Sequencer {
    /// Waits until the batches before `place` have had their turn (at most
    /// [`MAX_WAIT`]); the batch's own turn lasts while the [`Turn`] lives.
    pub async fn turn(self: &Arc<Self>, place: Place) -> Turn {
        let mut next = self.enter(&place);
        let ready = next.wait_for(|next| *next >= place.batch);
        if tokio::time::timeout(MAX_WAIT, ready).await.is_err() {
            tracing::debug!(stream = %place.stream, batch = place.batch, "earlier batches did not come; going ahead");
            self.with_stream(&place, |stream| stream.skip_to(place.batch));
        }
        self.hold(place)
    }

    /// The batch's turn, not waited for: held while a request is handled,
    /// so that one refused before it reached the pipeline lets the next go
    /// at once, as its answer lets the client go on.
    pub fn hold(self: &Arc<Self>, place: Place) -> Turn {
        Turn(Some((Arc::clone(self), place)))
    }

    /// Notes what the client has had answered; a receiver of the stream's progress.
    fn enter(&self, place: &Place) -> watch::Receiver<u64> {
        self.with_stream(place, |stream| {
            stream.skip_to(place.oldest);
            stream.next.subscribe()
        })
    }

    fn with_stream<T>(&self, place: &Place, f: impl FnOnce(&mut Stream) -> T) -> T {
        let mut streams = self.streams.lock().expect("sequencer lock");
        if streams.len() >= MANY_STREAMS && !streams.contains_key(&place.stream) {
            streams.retain(|_, stream| stream.used.elapsed() < IDLE);
        }
        let stream = streams
            .entry(place.stream.clone())
            .or_insert_with(|| Stream::new(place.oldest));
        stream.used = Instant::now();
        f(stream)
    }
}

/// A batch's turn: the batches after it may go once it is dropped, which
/// the pipeline does as soon as the batch's place in the commit order is
/// fixed. The default turn belongs to no stream.
#[derive(Debug, Default)]
pub struct Turn(Option<(Arc<Sequencer>, Place)>);

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some((sequencer, place)) = self.0.take() {
            sequencer.with_stream(&place, |stream| stream.take(place.batch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(stream: &str, batch: u64, oldest: u64) -> Place {
        format!("{stream} {batch} {oldest}").parse().unwrap()
    }

    #[test]
    fn places_are_read_from_the_header_or_refused_with_the_form() {
        assert_eq!(place("run-1", 7, 5).batch, 7);
        for wrong in [
            "",
            "run-1 7",
            "run-1 7 8",
            "run-1 x 1",
            "run 1 1 1",
            "ru\u{e9} 1 1",
        ] {
            let error = wrong.parse::<Place>().unwrap_err();
            assert!(error.contains("STREAM N OLDEST"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_batch_waits_for_the_ones_before_it() {
        let sequencer = Arc::new(Sequencer::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let second = {
            let (sequencer, order) = (Arc::clone(&sequencer), Arc::clone(&order));
            tokio::spawn(async move {
                let _turn = sequencer.turn(place("s", 2, 1)).await;
                order.lock().unwrap().push(2);
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            order.lock().unwrap().is_empty(),
            "batch 2 went before batch 1"
        );
        {
            let _turn = sequencer.turn(place("s", 1, 1)).await;
            order.lock().unwrap().push(1);
        }
        second.await.unwrap();
        assert_eq!(*order.lock().unwrap(), [1, 2]);
    }

    #[tokio::test]
    async fn answered_batches_and_other_streams_are_not_waited_for() {
        let sequencer = Arc::new(Sequencer::default());
        drop(sequencer.turn(place("s", 1, 1)).await);
        // Batch 2 was answered (refused, say) without reaching this daemon.
        let started = Instant::now();
        drop(sequencer.turn(place("s", 3, 3)).await);
        drop(sequencer.turn(place("other", 9, 9)).await);
        // A retry of a batch that had its turn goes at once.
        drop(sequencer.turn(place("s", 1, 1)).await);
        assert!(started.elapsed() < MAX_WAIT / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_never_comes_delays_the_next_only_once() {
        let sequencer = Arc::new(Sequencer::default());
        let started = tokio::time::Instant::now();
        drop(sequencer.turn(place("s", 2, 1)).await);
        assert!(started.elapsed() >= MAX_WAIT);
        let started = tokio::time::Instant::now();
        drop(sequencer.turn(place("s", 3, 1)).await);
        assert!(started.elapsed() < MAX_WAIT);
    }
}
