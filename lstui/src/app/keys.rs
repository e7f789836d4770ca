//! Terminal events to actions. The key table below is also the help overlay
//! and the end of `lstui --help`, so the three cannot disagree.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};
use logstream_shared::Level;

use super::action::{Action, Edit};
use super::state::{Focus, Mode, State};

/// Every key, as (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit"),
    ("?", "this help (any key closes it)"),
    (
        "f",
        "edit the filter (query language); Enter applies, Esc cancels",
    ),
    (
        "1 … 6",
        "show or hide TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
    ),
    ("Tab", "move between the log list and the service list"),
    (
        "Enter  Space",
        "in the service list: show only the checked services",
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
    ("↑ ↓  k j", "select the previous / next record (pauses)"),
    ("PgUp PgDn", "a page up / down (Ctrl-B / Ctrl-F too)"),
    ("mouse wheel", "scroll"),
    (
        "Enter  d",
        "details of the selected record (all fields, JSON)",
    ),
    ("w", "wrap long lines, or cut them at the edge"),
    ("/", "search the view (message text, any case); Enter finds"),
    ("n  N", "next (newer) / previous (older) match"),
    ("Esc", "close what is open: input, help, details, search"),
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
        Event::Mouse(mouse) => mouse_action(mouse),
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(state, key),
        _ => None,
    }
}

fn mouse_action(mouse: &MouseEvent) -> Option<Action> {
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::Scroll(-3)),
        MouseEventKind::ScrollDown => Some(Action::Scroll(3)),
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
        KeyCode::Char('w') => Action::ToggleWrap,
        KeyCode::Char('h') => Action::ToggleHistory,
        KeyCode::Esc => Action::Cancel,
        _ => return None,
    };
    Some(action)
}
