//! History mode: the records the daemon has stored in a time range, paged
//! in from `GET /api/logs` as the view nears either edge of what is loaded.
//! Only a window of pages around the view is kept (the ring drops records
//! at the far end), so memory stays bounded however far one scrolls.
//!
//! `update` asks for pages with `Effect::Page`; the program runs it and
//! answers with `Action::Page`. Every request carries the window's generation: a jump or
//! a new filter starts a new one, and answers of an older one are dropped.

use chrono::{DateTime, SecondsFormat, Utc};
use logstream_shared::api::{Direction, SearchParams};
use logstream_shared::{Cursor, Level, LogRecord};

use super::filter::ViewFilter;
use super::list::{Hold, List, Position, Ring};

/// Records asked for per page.
pub const PAGE: usize = 500;
/// Records kept in the window: ten pages.
pub const WINDOW: usize = 10 * PAGE;
/// Pages are asked for when the selection comes this close to an edge.
const NEAR_EDGE: usize = PAGE / 2;
/// The first window record's sequence number: pages before it count down.
const FIRST_SEQ: u64 = u64::MAX / 2;

/// What is known past one edge of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    More,
    Loading,
    /// The range has no more records there (when the range is open towards
    /// now, newer ones may come: asked again at the newest row).
    End,
}

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// The oldest page of the range: a new window.
    Oldest,
    /// The newest page of the range: a new window.
    Newest,
    /// The page before the window's first record.
    Older,
    /// The page after its last.
    Newer,
}

/// A page to fetch; the answer comes back as `Action::Page`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub generation: u64,
    pub fetch: Fetch,
    pub params: SearchParams,
}

/// A page's records in the order the daemon sent them, and whether more
/// follow in that direction; or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct PageAnswer {
    pub generation: u64,
    pub fetch: Fetch,
    pub result: Result<(Vec<LogRecord>, bool), String>,
}

/// The time range history browses: `since` inclusive, `until` exclusive;
/// `None` is open (everything stored before, or up to now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The levels `e`/`E` and `w`/`W` jump between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Errors,
    Warnings,
}

impl Severity {
    pub fn accepts(self, level: Level) -> bool {
        match self {
            Severity::Errors => level >= Level::Error,
            Severity::Warnings => level == Level::Warn,
        }
    }

    /// The query clause the daemon finds them with.
    fn clause(self) -> &'static str {
        match self {
            Severity::Errors => "level:ERROR,FATAL",
            Severity::Warnings => "level:WARN",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Errors => "error",
            Severity::Warnings => "warning",
        }
    }
}

/// Why a record is looked for beyond the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// The next (`forward`: newer) record of a severity.
    Level { severity: Severity, forward: bool },
    /// The first record at or after a time.
    Time(DateTime<Utc>),
}

/// One record to find; the answer comes back as `Action::Found`.
#[derive(Debug, Clone, PartialEq)]
pub struct FindRequest {
    pub generation: u64,
    pub seek: Seek,
    pub params: SearchParams,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FindAnswer {
    pub generation: u64,
    pub seek: Seek,
    /// The record, or `None` when the range holds none.
    pub result: Result<Option<LogRecord>, String>,
}

impl Range {
    /// `GET /api/logs` over the range: `limit` records past `cursor`.
    pub fn params(
        &self,
        query: String,
        cursor: Option<Cursor>,
        direction: Direction,
        limit: usize,
    ) -> SearchParams {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Nanos, true);
        SearchParams {
            q: (!query.trim().is_empty()).then_some(query),
            since: self.since.as_ref().map(time),
            until: self.until.as_ref().map(time),
            limit: Some(limit),
            cursor: cursor.map(|c| c.encode()),
            direction: Some(direction),
            ..SearchParams::default()
        }
    }
}

#[derive(Debug)]
pub struct History {
    pub range: Range,
    pub list: List,
    pub older: Edge,
    pub newer: Edge,
    pub generation: u64,
    /// A jump to one record ([`History::anchor`]) put it at the top row;
    /// the first older page scrolls it down to show what came before.
    pub anchored: bool,
}

impl History {
    pub fn new(range: Range) -> History {
        History {
            range,
            list: List::of(Ring::starting_at(WINDOW, FIRST_SEQ)),
            older: Edge::End,
            newer: Edge::End,
            generation: 0,
            anchored: false,
        }
    }

    /// Empties the window and asks for the range's oldest or newest page.
    pub fn jump(&mut self, fetch: Fetch, query: String) -> PageRequest {
        self.generation += 1;
        self.list = List::of(Ring::starting_at(WINDOW, FIRST_SEQ));
        self.anchored = false;
        self.older = Edge::Loading;
        self.newer = Edge::Loading;
        self.request(fetch, query)
    }

    fn request(&self, fetch: Fetch, query: String) -> PageRequest {
        let cursor = match fetch {
            Fetch::Oldest | Fetch::Newest => None,
            Fetch::Older => self.list.ring.first().map(Cursor::of),
            Fetch::Newer => self.list.ring.last().map(Cursor::of),
        };
        let direction = match fetch {
            Fetch::Newest | Fetch::Older => Direction::Backward,
            Fetch::Oldest | Fetch::Newer => Direction::Forward,
        };
        PageRequest {
            generation: self.generation,
            fetch,
            params: self.range.params(query, cursor, direction, PAGE),
        }
    }

    /// Asks for the record `seek` looks for: of a severity past the
    /// window's edge (nothing in the window matched), or at a time.
    pub fn find(&self, seek: Seek, query: &str) -> FindRequest {
        let (query, cursor, direction) = match seek {
            Seek::Level { severity, forward } => {
                let query = match query.trim() {
                    "" => severity.clause().to_string(),
                    query => format!("({query}) {}", severity.clause()),
                };
                let ring = &self.list.ring;
                let edge = if forward { ring.last() } else { ring.first() };
                let direction = if forward {
                    Direction::Forward
                } else {
                    Direction::Backward
                };
                (query, edge.map(Cursor::of), direction)
            }
            Seek::Time(at) => {
                // Before every record of that instant: ids are never empty.
                let cursor = at.timestamp_nanos_opt().map(|ts_ns| Cursor {
                    ts_ns,
                    id: String::new(),
                });
                (query.to_string(), cursor, Direction::Forward)
            }
        };
        FindRequest {
            generation: self.generation,
            seek,
            params: self.range.params(query, cursor, direction, 1),
        }
    }

    /// A new window holding just `record`, selected; the pages on both
    /// sides of it are asked for next.
    pub fn anchor(&mut self, record: LogRecord) {
        self.generation += 1;
        let mut ring = Ring::starting_at(WINDOW, FIRST_SEQ);
        let (seq, _) = ring.push(record);
        self.list = List::of(ring);
        self.list.view.push_back(seq);
        self.list.position = Position::Held(Hold {
            selected: seq,
            top: seq,
            since: u64::MAX,
        });
        self.older = Edge::More;
        self.newer = Edge::More;
        self.anchored = true;
    }

    /// Puts an answer's records into the window; false for a stale answer.
    /// A failed page leaves its edge to be asked for again.
    pub fn receive(&mut self, answer: PageAnswer) -> Result<bool, String> {
        if answer.generation != self.generation {
            return Ok(false);
        }
        let (records, more) = match answer.result {
            Ok(page) => page,
            Err(reason) => {
                for edge in [&mut self.older, &mut self.newer] {
                    if *edge == Edge::Loading {
                        *edge = Edge::More;
                    }
                }
                return Err(reason);
            }
        };
        let past = if more { Edge::More } else { Edge::End };
        let ring = &mut self.list.ring;
        match answer.fetch {
            Fetch::Newest | Fetch::Older => {
                for record in records {
                    if ring.push_front(record).is_some() {
                        self.newer = Edge::More;
                    }
                }
                self.older = past;
            }
            Fetch::Oldest | Fetch::Newer => {
                for record in records {
                    if ring.push(record).1.is_some() {
                        self.older = Edge::More;
                    }
                }
                self.newer = past;
            }
        }
        match answer.fetch {
            Fetch::Newest => self.newer = Edge::End,
            Fetch::Oldest => self.older = Edge::End,
            Fetch::Older | Fetch::Newer => {}
        }
        Ok(true)
    }

    /// The pages the selection is near the edge of, and (`pushing_past`: a
    /// key moved down at the newest row of a range open towards now) a look
    /// for records stored since.
    pub fn wanted(&mut self, query: &str, pushing_past: bool) -> Vec<PageRequest> {
        let list = &self.list;
        let len = list.view.len();
        let index = match list.position {
            Position::Held(hold) if len > 0 => list.index_at_or_before(hold.selected),
            _ => return Vec::new(),
        };
        let mut wanted = Vec::new();
        if self.older == Edge::More && index < NEAR_EDGE {
            self.older = Edge::Loading;
            wanted.push(self.request(Fetch::Older, query.to_string()));
        }
        let recheck = pushing_past && self.newer == Edge::End && self.range.until.is_none();
        if (self.newer == Edge::More && len - index <= NEAR_EDGE) || recheck {
            self.newer = Edge::Loading;
            wanted.push(self.request(Fetch::Newer, query.to_string()));
        }
        wanted
    }

    /// Where the view goes after a jump's page arrived: the oldest or the
    /// newest record. (A history hold never stops at "what had arrived".)
    pub fn hold_after_jump(&mut self, fetch: Fetch, rows: usize) {
        let list = &mut self.list;
        let (Some(&first), Some(&last)) = (list.view.front(), list.view.back()) else {
            return;
        };
        let (selected, top) = match fetch {
            Fetch::Oldest => (first, first),
            _ => {
                let top = list.view.len().saturating_sub(rows);
                (last, list.view[top])
            }
        };
        list.position = Position::Held(Hold {
            selected,
            top,
            since: u64::MAX,
        });
    }
}

/// Where the live tail takes over from history's newest record: `None`
/// while records between them may be stored that neither holds (the range
/// ends before now, newer pages are still to come, or the live ring starts
/// after history's newest record); else the index in `live`'s view of the
/// first record after history's newest (`Some(None)`: none, follow).
pub fn hand_over_point(history: &History, live: &List) -> Option<Option<usize>> {
    if history.range.until.is_some() || history.newer != Edge::End {
        return None;
    }
    let key = |r: &LogRecord| (r.timestamp_nanos(), r.id.clone());
    let Some(last) = history.list.ring.last().map(key) else {
        return Some(live.view.len().checked_sub(1));
    };
    // The ring holds everything the tail sent since it started; it covers
    // the gap when its oldest record is no newer than history's newest.
    if live.ring.first().is_some_and(|first| key(first) > last) {
        return None;
    }
    let after = live
        .view
        .iter()
        .position(|&seq| live.ring.get(seq).is_some_and(|r| key(r) > last));
    Some(after)
}

/// What the daemon is asked for in history: the query lstui was started
/// with and everything in the view's filter (filter bar, levels, services).
pub fn daemon_query(tail_query: Option<&str>, filter: &ViewFilter) -> String {
    let mut parts = Vec::new();
    if let Some(query) = tail_query.filter(|q| !q.trim().is_empty()) {
        parts.push(format!("({query})"));
    }
    if !filter.filter_text().trim().is_empty() {
        parts.push(format!("({})", filter.filter_text()));
    }
    let hidden: Vec<&str> = logstream_shared::Level::ALL
        .iter()
        .filter(|level| !filter.shows_level(**level))
        .map(|level| level.as_str())
        .collect();
    if !hidden.is_empty() {
        parts.push(format!("-level:{}", hidden.join(",")));
    }
    if !filter.services.is_empty() {
        let names: Vec<String> = filter.services.iter().map(|s| quoted(s)).collect();
        parts.push(format!("service:{}", names.join(",")));
    }
    parts.join(" ")
}

/// A value in double quotes, as the query language reads it back.
fn quoted(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}
