//! The Elm architecture: `State`, `update(&mut State, Action)`, and the
//! actions that keys, the clock and the network send.

pub mod action;
pub mod context;
pub mod effect;
pub mod facets;
pub mod filter;
pub mod history;
pub mod keys;
pub mod list;
pub mod marks;
pub mod save;
pub mod selected;
pub mod state;
pub mod table;
pub mod timeline;
pub mod update;

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod jump_tests;
#[cfg(test)]
mod selected_tests;
#[cfg(test)]
pub(crate) mod tests;

pub use action::{Action, Edit, NetEvent};
pub use effect::Effect;
pub use state::{Options, State};
pub use update::update;

/// Applies an action and every follow-up action it returns.
pub fn apply(state: &mut State, action: Action) {
    let mut next = Some(action);
    while let Some(action) = next {
        next = update(state, action);
    }
}
