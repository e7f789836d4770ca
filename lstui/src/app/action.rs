//! Everything that can change the state: keys (translated in `keys`), the
//! render clock and the network task.

use std::time::Duration;

use logstream_shared::{Level, LogRecord};

use super::history::PageAnswer;

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
    ToggleDetail,
    ToggleHelp,
    ToggleLevel(Level),
    /// Switches the arrow keys between the log list and the service list.
    FocusNext,
    /// Adds the highlighted service to the view's services, or removes it.
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
