//! Work that `update` asks the program to do: it pushes an [`Effect`] onto
//! `State::effects`, the program takes it after the action, runs it off the
//! frame loop, and answers with an action. `update` never waits, and `draw`
//! stays a function of the state alone.

use super::context::ContextRequest;
use super::facets::FacetsRequest;
use super::history::{FindRequest, PageRequest};
use super::save::SaveRequest;
use super::table::TableRequest;
use super::timeline::TimelineRequest;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A question for the daemon, answered by one action.
    Ask(Ask),
    /// Text to the terminal's clipboard (OSC 52).
    Copy(String),
    /// Text shown in `$PAGER`, lstui's screen handed over meanwhile.
    Pager(String),
    /// The query's results to a file, reported by `Action::Saving`.
    Save(SaveRequest),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// A page of stored records, answered by `Action::Page`.
    Page(PageRequest),
    /// One record past the window (e/E, w/W) or at a time (t), answered
    /// by `Action::Found`.
    Find(FindRequest),
    /// History's timeline, answered by `Action::Timeline`.
    Timeline(TimelineRequest),
    /// History's facets, answered by `Action::Facets`.
    Facets(FacetsRequest),
    /// A record's neighbours, answered by `Action::Context`.
    Context(ContextRequest),
    /// A table query's table, answered by `Action::Table`.
    Table(TableRequest),
}
