//! A list of records and the view of it: which records the filter lets
//! through and where the selection is. The live tail has one; stored
//! history will be another.

use std::collections::VecDeque;

use logstream_shared::LogRecord;

/// Records in arrival order, the oldest dropped when full. Each record has a
/// sequence number that never changes, so a view can point at it.
#[derive(Debug)]
pub struct Ring {
    records: VecDeque<LogRecord>,
    capacity: usize,
    /// Sequence number of `records[0]`.
    first_seq: u64,
}

impl Ring {
    pub fn new(capacity: usize) -> Ring {
        Ring {
            records: VecDeque::new(),
            capacity: capacity.max(1),
            first_seq: 0,
        }
    }

    /// Adds a record; returns its sequence number and the record it pushed out.
    pub fn push(&mut self, record: LogRecord) -> (u64, Option<LogRecord>) {
        let evicted = if self.records.len() == self.capacity {
            self.first_seq += 1;
            self.records.pop_front()
        } else {
            None
        };
        self.records.push_back(record);
        (self.end_seq() - 1, evicted)
    }

    /// A ring whose first record will get sequence number `first_seq`: a
    /// history window starts mid-range so that older pages can go before it.
    pub fn starting_at(capacity: usize, first_seq: u64) -> Ring {
        Ring {
            first_seq,
            ..Ring::new(capacity)
        }
    }

    /// Adds a record before the first; returns the record it pushed out at
    /// the other end, if full.
    pub fn push_front(&mut self, record: LogRecord) -> Option<LogRecord> {
        let evicted = if self.records.len() == self.capacity {
            self.records.pop_back()
        } else {
            None
        };
        self.records.push_front(record);
        self.first_seq -= 1;
        evicted
    }

    pub fn first(&self) -> Option<&LogRecord> {
        self.records.front()
    }

    pub fn last(&self) -> Option<&LogRecord> {
        self.records.back()
    }

    pub fn get(&self, seq: u64) -> Option<&LogRecord> {
        let index = seq.checked_sub(self.first_seq)?;
        self.records.get(usize::try_from(index).ok()?)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The sequence number the next record will get.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &LogRecord)> {
        (self.first_seq..).zip(self.records.iter())
    }
}

/// Where the log list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The newest record is at the bottom and selected.
    Follow,
    /// Paused or scrolled back: the view stays put while records arrive.
    Held(Hold),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Sequence number of the selected record.
    pub selected: u64,
    /// Sequence number of the first visible row.
    pub top: u64,
    /// `Ring::end_seq` when the view was held: later records are "new".
    pub since: u64,
}

/// Records, the ones in view, and where the view is.
#[derive(Debug)]
pub struct List {
    pub ring: Ring,
    /// Sequence numbers of the records in `ring` that the filter accepts, ascending.
    pub view: VecDeque<u64>,
    pub position: Position,
}

impl List {
    pub fn new(capacity: usize) -> List {
        List::of(Ring::new(capacity))
    }

    pub fn of(ring: Ring) -> List {
        List {
            ring,
            view: VecDeque::new(),
            position: Position::Follow,
        }
    }

    /// Position in `view` of the first record at or after `seq`.
    pub fn index_at_or_after(&self, seq: u64) -> usize {
        self.view.partition_point(|&s| s < seq)
    }

    /// Position in `view` of the last record at or before `seq` (0 if none).
    pub fn index_at_or_before(&self, seq: u64) -> usize {
        self.view.partition_point(|&s| s <= seq).saturating_sub(1)
    }

    /// The selected record's sequence number: the newest when following.
    pub fn selected_seq(&self) -> Option<u64> {
        match self.position {
            Position::Follow => self.view.back().copied(),
            Position::Held(hold) => (!self.view.is_empty()).then_some(hold.selected),
        }
    }

    pub fn selected_record(&self) -> Option<&LogRecord> {
        self.selected_seq().and_then(|seq| self.ring.get(seq))
    }

    /// While held: matching records that arrived since, and all records.
    pub fn arrived_while_held(&self) -> Option<(usize, u64)> {
        match self.position {
            Position::Follow => None,
            Position::Held(hold) => Some((
                self.view.len() - self.index_at_or_after(hold.since),
                self.ring.end_seq().saturating_sub(hold.since),
            )),
        }
    }
}
