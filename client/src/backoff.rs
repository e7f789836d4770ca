//! Waits between attempts: doubling from a first wait up to a last, each
//! with jitter, so that many clients of a restarted daemon do not all come
//! back in the same millisecond; a server's `Retry-After` wins.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    last: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, last: Duration) -> Backoff {
        Backoff {
            first,
            last,
            next: first,
        }
    }

    /// The wait before the next attempt: `retry_after` if the server named
    /// one, else half to all of the current step; the step then doubles.
    pub fn wait(&mut self, retry_after: Option<Duration>) -> Duration {
        let jittered = self.next.mul_f64(rand::rng().random_range(0.5..=1.0));
        self.next = (self.next * 2).min(self.last);
        retry_after.unwrap_or(jittered)
    }

    /// After a success: the next failure waits the first step again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_last_with_jitter_and_reset() {
        let (first, last) = (Duration::from_millis(100), Duration::from_millis(400));
        let mut backoff = Backoff::new(first, last);
        let steps: Vec<Duration> = (0..5).map(|_| backoff.wait(None)).collect();
        for (wait, step) in steps.iter().zip([100, 200, 400, 400, 400]) {
            let step = Duration::from_millis(step);
            assert!(
                *wait >= step / 2 && *wait <= step,
                "{wait:?} for a step of {step:?}"
            );
        }
        assert_eq!(
            backoff.wait(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        backoff.reset();
        assert!(backoff.wait(None) <= first);
    }
}
