//! lstui, LogStream's terminal dashboard: the live tail from the daemon,
//! filtered with the query language, searched, paused and counted.
//!
//! The library holds everything but `main`, so that the benchmark and the
//! tests drive the same `update` and `draw` the program does.

pub mod app;
pub mod cli;
mod effects;
pub mod net;
mod run;
mod terminal;
pub mod ui;

pub use run::run;

/// The render tick: about 30 frames a second, smooth to the eye and cheap at
/// 50,000 records a second.
pub const FRAME: std::time::Duration = std::time::Duration::from_millis(33);
