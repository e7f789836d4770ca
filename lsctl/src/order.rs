//! Keeps the daemon storing one run's batches in the order they were read
//! while several are in flight: the daemon decodes concurrent requests
//! concurrently, and the live tail follows the order it commits them in.
//! Each batch carries `LogStream-Order: RUN N OLDEST` (this run's name, the
//! batch's number, the oldest batch still unanswered), and the daemon hands
//! batch N to its pipeline only after batches OLDEST to N-1.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// This run's batches, and which are still unanswered.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    run: Arc<str>,
    unanswered: Arc<Mutex<BTreeSet<u64>>>,
    next: u64,
}

impl Order {
    pub(crate) fn new() -> Order {
        Order {
            run: uuid::Uuid::now_v7().to_string().into(),
            unanswered: Arc::default(),
            next: 0,
        }
    }

    /// The next batch's place; unanswered until the place is dropped.
    pub(crate) fn place(&mut self) -> Place {
        let batch = self.next;
        self.next += 1;
        self.unanswered.lock().expect("order lock").insert(batch);
        Place {
            order: self.clone(),
            batch,
        }
    }
}

/// One batch's place in its run; dropped once the batch is answered (or
/// its delivery given up), so later batches stop naming it as unanswered.
#[derive(Debug)]
pub(crate) struct Place {
    order: Order,
    batch: u64,
}

impl Place {
    /// The header's value, as it stands now: a retry names the batches
    /// answered meanwhile as answered.
    pub(crate) fn header(&self) -> String {
        // This batch is among the unanswered, so the oldest is at most it.
        let oldest = self
            .order
            .unanswered
            .lock()
            .expect("order lock")
            .first()
            .copied()
            .unwrap_or(self.batch);
        format!("{} {} {oldest}", self.order.run, self.batch)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.order
            .unanswered
            .lock()
            .expect("order lock")
            .remove(&self.batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_names_the_oldest_batch_still_unanswered() {
        let mut order = Order::new();
        let first = order.place();
        let second = order.place();
        let third = order.place();
        assert!(third.header().ends_with(" 2 0"), "{}", third.header());
        drop(first);
        assert!(third.header().ends_with(" 2 1"), "{}", third.header());
        drop(second);
        assert!(third.header().ends_with(" 2 2"), "{}", third.header());
        assert!(third.header().starts_with(&*order.run));
    }
}
