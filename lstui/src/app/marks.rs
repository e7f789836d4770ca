//! Marked records (`m`), in time order, to jump between with `u`/`U`
//! wherever they are: in view, or (in history) anywhere in the range.

use std::collections::BTreeMap;

use logstream_shared::LogRecord;

/// Marks kept at most; marking more drops the oldest mark.
pub const MAX_MARKS: usize = 10_000;

/// Records by their place in the store's order: time, then id.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    records: BTreeMap<(i64, String), LogRecord>,
}

fn key(record: &LogRecord) -> (i64, String) {
    (record.timestamp_nanos(), record.id.clone())
}

impl Marks {
    /// Marks `record`, or unmarks it; true when it is marked now.
    pub fn toggle(&mut self, record: &LogRecord) -> bool {
        let key = key(record);
        if self.records.remove(&key).is_some() {
            return false;
        }
        if self.records.len() >= MAX_MARKS {
            self.records.pop_first();
        }
        self.records.insert(key, record.clone());
        true
    }

    pub fn contains(&self, record: &LogRecord) -> bool {
        self.records.contains_key(&key(record))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The nearest mark after (`forward`) or before `record`; from no
    /// record, the first or the last.
    pub fn next(&self, record: Option<&LogRecord>, forward: bool) -> Option<&LogRecord> {
        use std::ops::Bound::{Excluded, Unbounded};
        let from = record.map(key);
        let mut range = match (&from, forward) {
            (Some(k), true) => self.records.range((Excluded(k.clone()), Unbounded)),
            (Some(k), false) => self.records.range((Unbounded, Excluded(k.clone()))),
            (None, _) => self.records.range::<(i64, String), _>(..),
        };
        if forward {
            range.next()
        } else {
            range.next_back()
        }
        .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::record;
    use logstream_shared::Level;

    #[test]
    fn marks_toggle_and_are_found_in_time_order() {
        let mut marks = Marks::default();
        let [a, b, c] = [1, 5, 9].map(|n| record(n, "api", Level::Info, &format!("m{n}")));
        assert!(marks.toggle(&c) && marks.toggle(&a));
        assert_eq!(marks.next(Some(&b), true).unwrap().message, "m9");
        assert_eq!(marks.next(Some(&b), false).unwrap().message, "m1");
        assert!(marks.next(Some(&c), true).is_none());
        assert_eq!(marks.next(None, false).unwrap().message, "m9");
        assert!(!marks.toggle(&a), "again unmarks");
        assert_eq!(marks.len(), 1);
    }
}
