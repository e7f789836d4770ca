//! Work that `update` asks the program to do: it pushes an [`Effect`] onto
//! `State::effects`, the program takes it after the action, runs it off the
//! frame loop, and answers with an action. `update` never waits, and `draw`
//! stays a function of the state alone.

use super::history::PageRequest;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A page of stored records, answered by `Action::Page`.
    Page(PageRequest),
}
