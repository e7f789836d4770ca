//! Everything lstui shows, and nothing about how it is drawn.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use logstream_shared::{Level, LogRecord, QueryError};

use super::context::ContextView;
use super::effect::Effect;
use super::facets::Facets;
use super::filter::{Needle, ViewFilter};
use super::history::{History, Range, daemon_query};
use super::list::List;
use super::marks::Marks;
use super::save::SaveProgress;
use super::table::TableView;
use super::timeline::Timeline;

/// The most distinct services counted by name; more are counted as "other"
/// so that a service name per request cannot grow memory without bound.
pub const MAX_SERVICES: usize = 10_000;
/// Seconds of rate history kept for the histogram.
pub const RATE_HISTORY: usize = 600;

/// Records per second and level, one bucket per second of arrival.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    /// Oldest first; the last bucket is the current, incomplete second.
    pub buckets: VecDeque<[u32; 6]>,
    /// The second (since start) of the last bucket.
    pub newest_second: u64,
}

impl Rates {
    /// Opens empty buckets up to `second`.
    pub fn advance(&mut self, second: u64) {
        if self.buckets.is_empty() {
            self.buckets.push_back([0; 6]);
            self.newest_second = second;
        }
        // A long sleep (laptop lid) needs no more than a full history of zeros.
        let gap = second
            .saturating_sub(self.newest_second)
            .min(RATE_HISTORY as u64);
        for _ in 0..gap {
            self.buckets.push_back([0; 6]);
        }
        self.newest_second = self.newest_second.max(second);
        while self.buckets.len() > RATE_HISTORY {
            self.buckets.pop_front();
        }
    }

    pub fn count(&mut self, level: Level) {
        if self.buckets.is_empty() {
            self.buckets.push_back([0; 6]);
        }
        if let Some(bucket) = self.buckets.back_mut() {
            bucket[usize::from(level.as_u8())] += 1;
        }
    }

    /// Records in the last complete second.
    pub fn per_second(&self) -> u64 {
        let n = self.buckets.len();
        let bucket = if n >= 2 {
            self.buckets.get(n - 2)
        } else {
            self.buckets.back()
        };
        bucket.map_or(0, |b| b.iter().map(|&c| u64::from(c)).sum())
    }
}

/// How many records each service has sent since lstui started.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// Sorted by name, so the list does not jump around as counts change.
    pub counts: BTreeMap<String, u64>,
    /// Records of services beyond `MAX_SERVICES`.
    pub other: u64,
    /// The longest name seen, in characters, for the service column.
    pub widest: usize,
}

impl Services {
    pub fn count(&mut self, service: &str) {
        if let Some(count) = self.counts.get_mut(service) {
            *count += 1;
        } else if self.counts.len() < MAX_SERVICES {
            self.counts.insert(service.to_string(), 1);
            self.widest = self.widest.max(service.chars().count());
        } else {
            self.other += 1;
        }
    }
}

/// The daemon connection, as the status line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting {
        attempt: u32,
    },
    Live,
    Reconnecting {
        reason: String,
        retry_in: Duration,
    },
    /// lstui stopped trying (a bad query, a refused token).
    Failed(String),
}

/// A one-line text field with a cursor (in characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
    pub cursor: usize,
}

impl LineInput {
    pub fn new(text: &str) -> LineInput {
        LineInput {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    /// The byte offset of the cursor.
    pub fn byte_cursor(&self) -> usize {
        self.text
            .char_indices()
            .nth(self.cursor)
            .map_or(self.text.len(), |(i, _)| i)
    }
}

/// What keys do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing in the filter bar.
    Filter(LineInput),
    /// Typing a search.
    Search(LineInput),
    /// Typing a time to jump to (history).
    Time(LineInput),
    /// Typing the file to save the results to.
    Save(LineInput),
}

/// Which list the arrow keys move in (the side list is the services, or
/// in history the facets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Logs,
    Services,
}

/// The text searched for in view, highlighted and jumped to with n/N.
#[derive(Debug, Clone)]
pub struct Search {
    pub text: String,
    pub needle: Needle,
}

/// Start-up choices that the state needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Records kept in memory.
    pub capacity: usize,
    /// Show times in UTC instead of the local zone.
    pub utc: bool,
    pub wrap: bool,
    /// The daemon's URL, for the status line.
    pub server: String,
    /// The query the daemon filters the tail with, if any.
    pub tail_query: Option<String>,
    /// The range history mode browses.
    pub range: Range,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            capacity: 100_000,
            utc: false,
            wrap: false,
            server: logstream_shared::DEFAULT_SERVER.to_string(),
            tail_query: None,
            range: Range::default(),
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub options: Options,
    /// The terminal's size: columns, rows.
    pub size: (u16, u16),
    /// Milliseconds since start, from the render tick.
    pub clock_ms: u64,
    /// The live tail's records.
    pub live: List,
    /// In history mode, the stored records around the view; the live tail
    /// goes on into `live` meanwhile.
    pub history: Option<History>,
    /// History's timeline (kept across visits, so that its generations
    /// only grow).
    pub timeline: Timeline,
    /// History's facets, kept across visits like the timeline.
    pub facets: Facets,
    /// The context pane, while open.
    pub context: Option<ContextView>,
    pub marks: Marks,
    /// The last save to a file, running or finished.
    pub save: Option<SaveProgress>,
    /// The table of a table query in the filter bar, shown instead of records.
    pub table: Option<TableView>,
    /// Tables asked for so far: each request's generation.
    pub tables_asked: u64,
    /// Work `update` asked for; the program takes and runs it.
    pub effects: Vec<Effect>,
    pub filter: ViewFilter,
    /// Why the text in the filter bar does not parse; the old filter stays.
    pub filter_error: Option<QueryError>,
    pub mode: Mode,
    pub focus: Focus,
    pub search: Option<Search>,
    pub services: Services,
    /// Index of the highlighted row in the service list.
    pub service_cursor: usize,
    pub rates: Rates,
    pub connection: Connection,
    /// Records received since start (also those since pushed out of the ring).
    pub received: u64,
    /// Events from the daemon that were not records lstui could read.
    pub undecodable: u64,
    pub wrap: bool,
    /// The time column as ages ("5m ago") instead of clock times.
    pub relative_times: bool,
    /// The wall-clock time `clock_ms` counts from: ages are measured from
    /// it plus the clock, so that a frame depends on the state alone.
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub detail: bool,
    pub help: bool,
    /// A short message for the status line, such as "search wrapped".
    pub notice: Option<String>,
    pub quit: bool,
}

impl State {
    pub fn new(options: Options, size: (u16, u16)) -> State {
        State {
            live: List::new(options.capacity),
            history: None,
            timeline: Timeline::default(),
            facets: Facets::default(),
            context: None,
            marks: Marks::default(),
            save: None,
            table: None,
            tables_asked: 0,
            effects: Vec::new(),
            wrap: options.wrap,
            options,
            size,
            clock_ms: 0,
            filter: ViewFilter::default(),
            filter_error: None,
            mode: Mode::Normal,
            focus: Focus::Logs,
            search: None,
            services: Services::default(),
            service_cursor: 0,
            rates: Rates::default(),
            connection: Connection::Connecting { attempt: 1 },
            received: 0,
            undecodable: 0,
            relative_times: false,
            started_at: chrono::Utc::now(),
            detail: false,
            help: false,
            notice: None,
            quit: false,
        }
    }

    /// Now, as the render clock tells it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let elapsed = i64::try_from(self.clock_ms).unwrap_or(i64::MAX);
        self.started_at + chrono::Duration::milliseconds(elapsed)
    }

    /// The list on screen: history's in history mode, else the live tail's.
    pub fn list(&self) -> &List {
        self.history.as_ref().map_or(&self.live, |h| &h.list)
    }

    pub fn list_mut(&mut self) -> &mut List {
        match &mut self.history {
            Some(history) => &mut history.list,
            None => &mut self.live,
        }
    }

    /// The range stored records are asked for over: history's, else the
    /// one lstui was started with.
    pub fn range(&self) -> Range {
        match &self.history {
            Some(history) => history.range.clone(),
            None => self.options.range.clone(),
        }
    }

    /// What history asks the daemon for.
    pub fn daemon_query(&self) -> String {
        daemon_query(self.options.tail_query.as_deref(), &self.filter)
    }

    pub fn selected_record(&self) -> Option<&LogRecord> {
        self.list().selected_record()
    }

    /// Rows of the log list on screen, as the layout gives them.
    pub fn list_rows(&self) -> usize {
        usize::from(crate::ui::layout::areas(self).logs.height).max(1)
    }

    /// Columns of the timeline's bars (at least 60, asked for also while
    /// the terminal is too short to show it).
    pub fn timeline_columns(&self) -> u16 {
        crate::ui::layout::inner(crate::ui::layout::areas(self).histogram_block)
            .width
            .max(60)
    }

    /// Rows of the service list on screen.
    pub fn service_rows(&self) -> usize {
        usize::from(crate::ui::layout::areas(self).services.height).max(1)
    }
}
