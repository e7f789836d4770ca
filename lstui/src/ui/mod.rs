//! Drawing: `draw(&State, &mut Frame)` reads the state and never changes it.

mod draw;
mod explore;
pub mod layout;
mod theme;

pub use draw::draw;
pub(crate) use draw::thousands;

#[cfg(test)]
mod tests;
