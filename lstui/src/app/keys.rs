//! Terminal events to actions. The key table below is also the help overlay
//! and the end of `lstui --help`, so the three cannot disagree.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use logstream_shared::Level;
use ratatui::layout::Position;

use super::action::{Action, Edit};
use super::history::Severity;
use super::state::{Focus, Mode, State};
use crate::ui::layout;

/// Every key, as (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit"),
    ("?", "this help (any key closes it)"),
    ("f", "edit the filter (query language); Enter applies"),
    (
        "1 … 6",
        "show or hide TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
    ),
    ("Tab", "between the log list and the side list"),
    (
        "Enter  Space",
        "side list: check a service (history: a facet value)",
    ),
    ("c", "every service again"),
    (
        "h",
        "history: the stored records (--from/--to), or live again",
    ),
    ("Space  p", "pause (hold the view) or follow again"),
    (
        "End  G",
        "follow the newest record (history: newest of the range)",
    ),
    (
        "Home  g",
        "the oldest record held (history: of the whole range)",
    ),
    (
        "↑ ↓  k j",
        "previous / next record (pauses); the mouse wheel scrolls",
    ),
    ("PgUp PgDn", "a page up / down (Ctrl-B / Ctrl-F too)"),
    (
        "t",
        "jump to a time: 2h ago, 2026-11-30 14:00, 09:30, RFC 3339",
    ),
    (
        "e E  w W",
        "next / previous error, warning (history: whole range)",
    ),
    (
        "[ ]  click",
        "timeline: previous / next busy bar; a click jumps there",
    ),
    (
        "+  -",
        "timeline: zoom the range in / out around the selection",
    ),
    (
        "Enter  d",
        "details of the selected record (all fields, JSON)",
    ),
    (
        "x",
        "context: the record's neighbours of its service and host",
    ),
    (
        "m  u  U",
        "mark the record; next / previous mark (whole range)",
    ),
    (
        "y  o",
        "copy the record as JSON (OSC 52); show it in $PAGER",
    ),
    ("s", "save the query's stored results to a file (NDJSON)"),
    (
        "Ctrl-W  T",
        "wrap long lines or cut them; times as ages (5m ago)",
    ),
    ("/", "search the view (message text, any case); Enter finds"),
    ("n  N", "next (newer) / previous (older) match"),
    (
        "Esc",
        "close what is open: input, help, context, details, search",
    ),
];

/// The key table as plain text, for `--help`.
pub fn help_text() -> String {
    let mut text = String::from("Keys:\n");
    for (keys, what) in KEYS {
        text.push_str(&format!("  {keys:<14}{what}\n"));
    }
    text
}

/// The action a terminal event asks for in the current state, if any.
pub fn action_for(state: &State, event: &Event) -> Option<Action> {
    match event {
        Event::Resize(columns, rows) => Some(Action::Resize(*columns, *rows)),
        Event::Mouse(mouse) => mouse_action(state, mouse),
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(state, key),
        _ => None,
    }
}

fn mouse_action(state: &State, mouse: &MouseEvent) -> Option<Action> {
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::Scroll(-3)),
        MouseEventKind::ScrollDown => Some(Action::Scroll(3)),
        MouseEventKind::Down(MouseButton::Left) if state.history.is_some() => {
            let timeline = layout::inner(layout::areas(state).histogram_block);
            let inside = timeline.contains(Position::new(mouse.column, mouse.row));
            inside.then(|| Action::TimelineClick(mouse.column - timeline.x))
        }
        _ => None,
    }
}

fn key_action(state: &State, key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if state.mode != Mode::Normal {
        return Some(match key.code {
            KeyCode::Esc => Action::Cancel,
            KeyCode::Enter => Action::Submit,
            KeyCode::Char('u') if ctrl => Action::Edit(Edit::Clear),
            KeyCode::Char(c) if !ctrl => Action::Edit(Edit::Insert(c)),
            KeyCode::Backspace => Action::Edit(Edit::Backspace),
            KeyCode::Delete => Action::Edit(Edit::Delete),
            KeyCode::Left => Action::Edit(Edit::Left),
            KeyCode::Right => Action::Edit(Edit::Right),
            KeyCode::Home => Action::Edit(Edit::Home),
            KeyCode::End => Action::Edit(Edit::End),
            _ => return None,
        });
    }
    if state.help {
        return Some(match key.code {
            KeyCode::Char('q') => Action::Quit,
            _ => Action::ToggleHelp,
        });
    }
    let action = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('f') if ctrl => Action::PageDown,
        KeyCode::Char('b') if ctrl => Action::PageUp,
        KeyCode::Char('f') => Action::StartFilter,
        KeyCode::Char('/') => Action::StartSearch,
        KeyCode::Char('n') => Action::SearchNext,
        KeyCode::Char('N') => Action::SearchPrev,
        KeyCode::Char(c @ '1'..='6') => {
            Action::ToggleLevel(Level::from_u8(c as u8 - b'1').expect("1 to 6"))
        }
        KeyCode::Tab | KeyCode::BackTab => Action::FocusNext,
        KeyCode::Char('c') => Action::ClearServices,
        KeyCode::Char(' ') if state.focus == Focus::Services => Action::ToggleService,
        KeyCode::Char(' ') | KeyCode::Char('p') => Action::TogglePause,
        KeyCode::End | KeyCode::Char('G') => Action::Follow,
        KeyCode::Home | KeyCode::Char('g') => Action::Oldest,
        KeyCode::Up | KeyCode::Char('k') => Action::Scroll(-1),
        KeyCode::Down | KeyCode::Char('j') => Action::Scroll(1),
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Enter => Action::Submit,
        KeyCode::Char('d') => Action::ToggleDetail,
        KeyCode::Char('w') if ctrl => Action::ToggleWrap,
        KeyCode::Char('T') => Action::ToggleRelativeTimes,
        KeyCode::Char(c @ ('e' | 'E' | 'w' | 'W')) => Action::SeekLevel {
            severity: if c.eq_ignore_ascii_case(&'e') {
                Severity::Errors
            } else {
                Severity::Warnings
            },
            forward: c.is_lowercase(),
        },
        KeyCode::Char('t') => Action::StartTimeJump,
        KeyCode::Char('x') => Action::ShowContext,
        KeyCode::Char('m') => Action::ToggleMark,
        KeyCode::Char('u') => Action::NextMark { forward: true },
        KeyCode::Char('U') => Action::NextMark { forward: false },
        KeyCode::Char('y') => Action::Copy,
        KeyCode::Char('o') => Action::OpenInPager,
        KeyCode::Char('s') => Action::StartSave,
        KeyCode::Char('[') => Action::TimelineStep { forward: false },
        KeyCode::Char(']') => Action::TimelineStep { forward: true },
        KeyCode::Char('+' | '=') => Action::Zoom { inward: true },
        KeyCode::Char('-') => Action::Zoom { inward: false },
        KeyCode::Char('h') => Action::ToggleHistory,
        KeyCode::Esc => Action::Cancel,
        _ => return None,
    };
    Some(action)
}
