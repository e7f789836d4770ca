//! Work that `update` asks the program to do: it pushes an [`Effect`] onto
//! `State::effects`, the program takes it after the action, runs it off the
//! frame loop, and answers with an action. `update` never waits, and `draw`
//! stays a function of the state alone.

use super::facets::FacetsRequest;
use super::history::{FindRequest, PageRequest};
use super::timeline::TimelineRequest;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A page of stored records, answered by `Action::Page`.
    Page(PageRequest),
    /// One record past the window (e/E, w/W) or at a time (t), answered
    /// by `Action::Found`.
    Find(FindRequest),
    /// History's timeline, answered by `Action::Timeline`.
    Timeline(TimelineRequest),
    /// History's facets, answered by `Action::Facets`.
    Facets(FacetsRequest),
}
