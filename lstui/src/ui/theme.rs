//! Colours, the same as `lsctl query` prints.

use logstream_shared::Level;
use ratatui::style::{Color, Modifier, Style};

pub(super) fn level(level: Level) -> Style {
    match level {
        Level::Trace => Style::new().fg(Color::DarkGray),
        Level::Debug => Style::new().fg(Color::Blue),
        Level::Info => Style::new().fg(Color::Green),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Level::Fatal => Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD),
    }
}

/// The message text: quiet for chatter, coloured from WARN up.
pub(super) fn message(level: Level) -> Style {
    match level {
        Level::Trace | Level::Debug => Style::new().fg(Color::DarkGray),
        Level::Info => Style::new(),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Error | Level::Fatal => Style::new().fg(Color::Red),
    }
}

/// The histogram's colour for a level (no background: bars are cells).
pub(super) fn bar(level: Level) -> Color {
    match level {
        Level::Trace => Color::DarkGray,
        Level::Debug => Color::Blue,
        Level::Info => Color::Green,
        Level::Warn => Color::Yellow,
        Level::Error => Color::Red,
        Level::Fatal => Color::Magenta,
    }
}

pub(super) const DIM: Style = Style::new().fg(Color::DarkGray);
pub(super) const SELECTED: Style = Style::new().bg(Color::DarkGray);
/// A marked row (`m`); the selection's colour goes over it.
pub(super) const MARKED: Style = Style::new().bg(Color::Indexed(24));
pub(super) const MATCH: Style = Style::new().fg(Color::Black).bg(Color::Yellow);
pub(super) const ERROR: Style = Style::new().fg(Color::Red);
pub(super) const TITLE: Style = Style::new().add_modifier(Modifier::BOLD);
