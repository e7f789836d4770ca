//! Everything that can change the state: keys (translated in `keys`), the
//! render clock and the network task.

use std::time::Duration;

use logstream_shared::{Level, LogRecord};

use super::context::ContextAnswer;
use super::facets::FacetsAnswer;
use super::history::{FindAnswer, PageAnswer, Severity};
use super::save::SaveProgress;
use super::table::TableAnswer;
use super::timeline::TimelineAnswer;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    /// Milliseconds since start: moves the rate histogram on.
    Clock(u64),
    /// The terminal's new size: columns, rows.
    Resize(u16, u16),
    Net(NetEvent),
    /// A history page the program fetched.
    Page(PageAnswer),
    /// The record the daemon found for a jump.
    Found(FindAnswer),
    /// The next (`forward`: newer) error or warning: in view, else (in
    /// history) anywhere in the range.
    SeekLevel {
        severity: Severity,
        forward: bool,
    },
    /// The timeline's histogram the program fetched.
    Timeline(TimelineAnswer),
    /// The facets the program fetched.
    Facets(FacetsAnswer),
    /// `[`/`]`: to the previous/next timeline bucket that has records.
    TimelineStep {
        forward: bool,
    },
    /// A click on the timeline's `column` (from its left edge).
    TimelineClick(u16),
    /// Halves (`inward`) or doubles the range around the selection.
    Zoom {
        inward: bool,
    },
    /// The table the daemon computed for the filter bar's query.
    Table(TableAnswer),
    /// `x`: the selected record's neighbours from its service and host
    /// (again: closes them).
    ShowContext,
    Context(ContextAnswer),
    /// `m`: marks the selected record, or unmarks it.
    ToggleMark,
    /// `u`/`U`: the next (newer) / previous mark.
    NextMark {
        forward: bool,
    },
    /// `y`: the selected record as JSON to the clipboard.
    Copy,
    /// `o`: the selected record as JSON in `$PAGER`.
    OpenInPager,
    /// `s`: opens the prompt for the file to save the results to.
    StartSave,
    Saving(SaveProgress),
    /// Opens the prompt for a time to jump to.
    StartTimeJump,
    /// Between the live tail and stored history.
    ToggleHistory,
    /// Moves the selection in the focused list; negative is up (older).
    Scroll(isize),
    PageUp,
    PageDown,
    /// The oldest record held (in history: of the whole range).
    Oldest,
    /// Back to the newest record, following new ones (in history: the
    /// newest of the range).
    Follow,
    /// Holds the view where it is, or follows again.
    TogglePause,
    ToggleWrap,
    /// The time column as ages, or as clock times again.
    ToggleRelativeTimes,
    ToggleDetail,
    ToggleHelp,
    ToggleLevel(Level),
    /// Switches the arrow keys between the log list and the service list.
    FocusNext,
    /// Adds the highlighted service (in history: facet value) to the
    /// filter, or removes it.
    ToggleService,
    /// Every service again.
    ClearServices,
    StartFilter,
    StartSearch,
    Edit(Edit),
    /// Enter: applies the filter or search being typed.
    Submit,
    /// Esc: leaves what is being typed or closes the top panel.
    Cancel,
    /// The next (newer) record that matches the search.
    SearchNext,
    /// The previous (older) one.
    SearchPrev,
}

/// A change to the text being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Ctrl-U: removes everything.
    Clear,
}

/// What the tail task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    Connecting {
        attempt: u32,
    },
    Connected,
    /// Records in the order the daemon sent them.
    Records(Vec<LogRecord>),
    /// Events that were not readable records, and why the last one was not.
    Undecodable {
        count: u64,
        reason: String,
    },
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
    /// lstui will not try again (a query the daemon refuses, a refused token).
    Failed(String),
}
