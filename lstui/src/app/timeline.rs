//! History's timeline: records per time bucket and level over the whole
//! range, from the daemon's histogram (not from the records lstui holds),
//! with the view's place marked on it.

use chrono::{DateTime, Utc};

use super::history::Range;

/// The narrowest range zooming in goes to.
const MIN_SPAN_NS: i64 = 60_000_000_000;

/// The timeline of one query over one range; `generation` tells a fresh
/// answer from one for a query or range since changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub generation: u64,
    pub status: Status,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Status {
    #[default]
    Loading,
    Ready(Buckets),
    Failed(String),
}

/// Counts per bucket, oldest first, by level (TRACE … FATAL).
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// Where the first bucket starts, and the width of each, in ns.
    pub first_ns: i64,
    pub step_ns: i64,
    pub counts: Vec<[u64; 6]>,
    /// Where the range ends (now, for a range open towards now).
    pub until_ns: i64,
}

/// The histogram to fetch: `columns` buckets at most, over the range (its
/// start is the oldest stored record when the range has none).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRequest {
    pub generation: u64,
    pub query: String,
    pub range: Range,
    pub columns: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineAnswer {
    pub generation: u64,
    pub result: Result<Buckets, String>,
}

impl Timeline {
    /// A new request, for a new query, range or width; older answers are
    /// dropped from now on.
    pub fn ask(&mut self, query: String, range: Range, columns: u16) -> TimelineRequest {
        self.generation += 1;
        self.status = Status::Loading;
        TimelineRequest {
            generation: self.generation,
            query,
            range,
            columns,
        }
    }

    pub fn receive(&mut self, answer: TimelineAnswer) {
        if answer.generation == self.generation {
            self.status = match answer.result {
                Ok(buckets) => Status::Ready(buckets),
                Err(reason) => Status::Failed(reason),
            };
        }
    }

    pub fn buckets(&self) -> Option<&Buckets> {
        match &self.status {
            Status::Ready(buckets) => Some(buckets),
            _ => None,
        }
    }
}

impl Buckets {
    /// The bucket a time falls in, if inside the timeline.
    pub fn index_of(&self, at: DateTime<Utc>) -> Option<usize> {
        let ns = at.timestamp_nanos_opt()?;
        let offset = ns.checked_sub(self.first_ns).filter(|o| *o >= 0)?;
        let index = offset.checked_div(self.step_ns)?;
        usize::try_from(index)
            .ok()
            .filter(|i| *i < self.counts.len())
    }

    pub fn start_of(&self, index: usize) -> DateTime<Utc> {
        let offset = i64::try_from(index).unwrap_or(i64::MAX);
        let ns = self
            .first_ns
            .saturating_add(offset.saturating_mul(self.step_ns));
        DateTime::from_timestamp_nanos(ns)
    }

    /// The buckets that fit in `columns`: the newest ones (a bucket more
    /// than the columns starts before the range).
    pub fn visible(&self, columns: u16) -> std::ops::Range<usize> {
        self.counts.len().saturating_sub(usize::from(columns))..self.counts.len()
    }

    pub fn total(&self, index: usize) -> u64 {
        self.counts.get(index).map_or(0, |c| c.iter().sum())
    }

    /// The nearest bucket with records before (or after, `forward`) `index`.
    pub fn next_busy(&self, index: usize, forward: bool) -> Option<usize> {
        if forward {
            (index + 1..self.counts.len()).find(|&i| self.total(i) > 0)
        } else {
            (0..index.min(self.counts.len()))
                .rev()
                .find(|&i| self.total(i) > 0)
        }
    }

    /// The range zoomed around `at`: half as long (`inward`) or twice as
    /// long; open towards now when it would reach past it.
    pub fn zoom(&self, at: DateTime<Utc>, inward: bool, now: DateTime<Utc>) -> Range {
        let start = self.first_ns;
        let span = self.until_ns.saturating_sub(start).max(MIN_SPAN_NS);
        let span = if inward {
            (span / 2).max(MIN_SPAN_NS)
        } else {
            span.saturating_mul(2)
        };
        let centre = at.timestamp_nanos_opt().unwrap_or(start);
        let since = centre.saturating_sub(span / 2);
        let until = since.saturating_add(span);
        let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        Range {
            since: Some(DateTime::from_timestamp_nanos(since)),
            until: (until < now_ns).then(|| DateTime::from_timestamp_nanos(until)),
        }
    }
}

/// The bucket width that fits `span_ns` into `columns` buckets: whole
/// seconds, at least one.
pub fn step_for(span_ns: i64, columns: u16) -> i64 {
    const SECOND: u64 = 1_000_000_000;
    let span = span_ns.max(1).unsigned_abs();
    let seconds = span.div_ceil(u64::from(columns.max(1))).div_ceil(SECOND);
    i64::try_from(seconds.max(1) * SECOND).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    fn buckets(counts: &[u64]) -> Buckets {
        Buckets {
            first_ns: 0,
            step_ns: HOUR,
            counts: counts.iter().map(|&n| [0, 0, n, 0, 0, 0]).collect(),
            until_ns: HOUR * counts.len() as i64,
        }
    }

    #[test]
    fn steps_are_whole_seconds_that_fit_the_columns() {
        assert_eq!(step_for(7 * 24 * HOUR, 168), HOUR);
        assert_eq!(step_for(7 * 24 * HOUR, 100), 6_048_000_000_000);
        assert_eq!(step_for(10, 100), 1_000_000_000);
        assert_eq!(step_for(0, 0), 1_000_000_000);
    }

    #[test]
    fn buckets_find_times_and_the_next_busy_one() {
        let b = buckets(&[3, 0, 0, 5, 0]);
        let at = |ns: i64| DateTime::from_timestamp_nanos(ns);
        assert_eq!(b.index_of(at(HOUR * 3 + 5)), Some(3));
        assert_eq!(b.index_of(at(-1)), None);
        assert_eq!(b.index_of(at(HOUR * 5)), None);
        assert_eq!(b.next_busy(3, false), Some(0));
        assert_eq!(b.next_busy(0, true), Some(3));
        assert_eq!(b.next_busy(3, true), None);
        assert_eq!(b.start_of(3), at(HOUR * 3));
    }

    #[test]
    fn zoom_halves_or_doubles_around_the_view_and_stays_open_towards_now() {
        let b = buckets(&[1; 8]);
        let at = DateTime::from_timestamp_nanos(HOUR * 4);
        let far_future = DateTime::from_timestamp_nanos(HOUR * 1000);
        let zoomed = b.zoom(at, true, far_future);
        assert_eq!(zoomed.since, Some(DateTime::from_timestamp_nanos(HOUR * 2)));
        assert_eq!(zoomed.until, Some(DateTime::from_timestamp_nanos(HOUR * 6)));
        let now = DateTime::from_timestamp_nanos(HOUR * 9);
        let wider = b.zoom(at, false, now);
        assert_eq!(wider.since, Some(DateTime::from_timestamp_nanos(-HOUR * 4)));
        assert_eq!(wider.until, None, "past now: open");
    }
}
