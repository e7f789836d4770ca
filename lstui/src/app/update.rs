//! `update`: the one place where the state changes.

use super::action::{Action, Edit, NetEvent};
use super::effect::Effect;
use super::filter::{Matcher, Needle, ViewFilter, filter_query};
use super::history::{Fetch, History, PageAnswer};
use super::list::{Hold, List, Position};
use super::state::{Connection, Focus, LineInput, Mode, Search, State};

/// Applies `action`; returns a follow-up action, if any, to apply next.
pub fn update(state: &mut State, action: Action) -> Option<Action> {
    if !matches!(
        action,
        Action::Clock(_) | Action::Net(_) | Action::Page(_) | Action::Resize(..)
    ) {
        // A notice answers the last key; the next key clears it.
        state.notice = None;
    }
    match action {
        Action::Quit => state.quit = true,
        Action::Clock(ms) => {
            state.clock_ms = ms;
            state.rates.advance(ms / 1000);
        }
        Action::Resize(columns, rows) => {
            state.size = (columns, rows);
            clamp_shown(state);
        }
        Action::Net(event) => net_event(state, event),
        Action::Page(answer) => page_arrived(state, answer),
        Action::ToggleHistory => toggle_history(state),
        Action::Scroll(delta) => match state.focus {
            Focus::Logs => {
                let at_newest = state.list().selected_seq() == state.list().view.back().copied();
                move_shown(state, delta);
                want_pages(state, delta > 0 && at_newest);
            }
            Focus::Services => {
                let last = state.services.counts.len().saturating_sub(1);
                state.service_cursor = state.service_cursor.saturating_add_signed(delta).min(last);
            }
        },
        Action::PageUp => return Some(Action::Scroll(-page(state))),
        Action::PageDown => return Some(Action::Scroll(page(state))),
        Action::Oldest if state.history.is_some() => jump(state, Fetch::Oldest),
        Action::Oldest => {
            state.focus = Focus::Logs;
            move_shown(state, isize::MIN / 2);
        }
        Action::Follow if state.history.is_some() => jump(state, Fetch::Newest),
        Action::Follow => state.list_mut().position = Position::Follow,
        Action::TogglePause if state.history.is_some() => {
            state.notice = Some("history holds still: h goes back to the live tail".into());
        }
        Action::TogglePause => match state.list().position {
            Position::Follow => move_shown(state, 0),
            Position::Held(_) => state.list_mut().position = Position::Follow,
        },
        Action::ToggleWrap => state.wrap = !state.wrap,
        Action::ToggleDetail => {
            state.detail = !state.detail;
            clamp_shown(state);
        }
        Action::ToggleHelp => state.help = !state.help,
        Action::ToggleLevel(level) => {
            let shown = &mut state.filter.levels[usize::from(level.as_u8())];
            *shown = !*shown;
            refilter(state);
        }
        Action::FocusNext => {
            state.focus = match state.focus {
                Focus::Logs => Focus::Services,
                Focus::Services => Focus::Logs,
            }
        }
        Action::ToggleService => {
            if let Some(name) = state.services.counts.keys().nth(state.service_cursor) {
                let name = name.clone();
                if !state.filter.services.remove(&name) {
                    state.filter.services.insert(name);
                }
                refilter(state);
            }
        }
        Action::ClearServices => {
            if !state.filter.services.is_empty() {
                state.filter.services.clear();
                refilter(state);
            }
        }
        Action::StartFilter => {
            state.mode = Mode::Filter(LineInput::new(&state.filter.text));
            state.filter_error = None;
        }
        Action::StartSearch => {
            let text = state.search.as_ref().map_or("", |s| s.text.as_str());
            state.mode = Mode::Search(LineInput::new(text));
        }
        Action::Edit(edit) => match &mut state.mode {
            Mode::Normal => {}
            Mode::Filter(input) => {
                apply_edit(input, edit);
                // Shown as the user types; applied only on Enter.
                state.filter_error = filter_query(&input.text).err();
            }
            Mode::Search(input) => apply_edit(input, edit),
        },
        Action::Submit => return submit(state),
        Action::Cancel => {
            if state.mode != Mode::Normal {
                state.mode = Mode::Normal;
                state.filter_error = None;
            } else if state.help {
                state.help = false;
            } else if state.detail {
                state.detail = false;
                clamp_shown(state);
            } else {
                state.search = None;
            }
        }
        Action::SearchNext => search_step(state, true, false),
        Action::SearchPrev => search_step(state, false, false),
    }
    None
}

fn net_event(state: &mut State, event: NetEvent) {
    match event {
        NetEvent::Connecting { attempt } => state.connection = Connection::Connecting { attempt },
        NetEvent::Connected => state.connection = Connection::Live,
        NetEvent::Records(records) => {
            for record in records {
                state.received += 1;
                state.rates.count(record.level);
                state.services.count(&record.service);
                let accepted = state.filter.accepts(&record);
                let live = &mut state.live;
                let (seq, evicted) = live.ring.push(record);
                if evicted.is_some() && live.view.front() < Some(&live.ring.first_seq()) {
                    live.view.pop_front();
                }
                if accepted {
                    live.view.push_back(seq);
                }
            }
            if let Position::Held(hold) = state.live.position
                && hold.top < state.live.ring.first_seq()
            {
                let rows = state.list_rows();
                clamp_hold(&mut state.live, rows);
            }
        }
        NetEvent::Undecodable { count, reason } => {
            state.undecodable += count;
            state.notice = Some(format!("skipped an unreadable event: {reason}"));
        }
        NetEvent::Disconnected { reason, retry_in } => {
            state.connection = Connection::Reconnecting { reason, retry_in }
        }
        NetEvent::Failed(reason) => state.connection = Connection::Failed(reason),
    }
}

/// A page is the list's height less one row, kept for context.
fn page(state: &State) -> isize {
    isize::try_from(state.list_rows().saturating_sub(1).max(1)).unwrap_or(isize::MAX)
}

/// Moves the selection in the list on screen.
fn move_shown(state: &mut State, delta: isize) {
    let rows = state.list_rows();
    move_selection(state.list_mut(), rows, delta);
}

/// Keeps the selection of the list on screen after its rows changed.
fn clamp_shown(state: &mut State) {
    let rows = state.list_rows();
    clamp_hold(state.list_mut(), rows);
}

/// Moves the selection by `delta` rows and holds the view there. From follow
/// mode, it starts at the newest record.
fn move_selection(list: &mut List, rows: usize, delta: isize) {
    let len = list.view.len();
    let (selected, top, since) = match list.position {
        Position::Follow => (
            len.saturating_sub(1),
            len.saturating_sub(rows),
            list.ring.end_seq(),
        ),
        Position::Held(hold) => (
            list.index_at_or_before(hold.selected),
            list.index_at_or_after(hold.top),
            hold.since,
        ),
    };
    let selected = selected
        .saturating_add_signed(delta)
        .min(len.saturating_sub(1));
    hold_at(list, rows, selected, top, since);
}

/// Holds the view with `view[selected]` selected, scrolled as little as
/// possible from `view[top]` to show it.
fn hold_at(list: &mut List, rows: usize, selected: usize, top: usize, since: u64) {
    let top = if selected < top {
        selected
    } else if selected >= top + rows {
        selected + 1 - rows
    } else {
        top
    };
    // With nothing in view, hold just past the newest record.
    let end = list.ring.end_seq();
    list.position = Position::Held(Hold {
        selected: list.view.get(selected).copied().unwrap_or(end),
        top: list.view.get(top).copied().unwrap_or(end),
        since,
    });
}

/// After the view changed under a held position (filter, eviction, resize):
/// keeps the selection on the same record or the one before it.
fn clamp_hold(list: &mut List, rows: usize) {
    if let Position::Held(hold) = list.position {
        if list.view.is_empty() {
            return;
        }
        let selected = if hold.selected < list.view[0] {
            0
        } else {
            list.index_at_or_before(hold.selected)
        };
        let top = list.index_at_or_after(hold.top);
        hold_at(list, rows, selected, top, hold.since);
    }
}

/// Rebuilds the views after the filter changed; history asks the daemon
/// again, from the newest record of its range.
fn refilter(state: &mut State) {
    let rows = state.list_rows();
    rebuild_view(&mut state.live, &state.filter);
    clamp_hold(&mut state.live, rows);
    if state.history.is_some() {
        jump(state, Fetch::Newest);
    }
}

fn rebuild_view(list: &mut List, filter: &ViewFilter) {
    list.view = list
        .ring
        .iter()
        .filter(|(_, record)| filter.accepts(record))
        .map(|(seq, _)| seq)
        .collect();
}

/// Into history at the newest record of its range, or back to the live tail.
fn toggle_history(state: &mut State) {
    if state.history.take().is_none() {
        state.history = Some(History::new(state.options.range.clone()));
        jump(state, Fetch::Newest);
    }
    state.focus = Focus::Logs;
}

/// A new history window at the oldest or newest record of the range.
fn jump(state: &mut State, fetch: Fetch) {
    if state.history.is_none() {
        return;
    }
    let query = state.daemon_query();
    if let Some(history) = &mut state.history {
        state.effects.push(Effect::Page(history.jump(fetch, query)));
    }
}

/// Asks for the pages that the selection is near (see `History::wanted`).
fn want_pages(state: &mut State, pushing_past: bool) {
    // Every scroll comes here; only history needs the query.
    if state.history.is_none() {
        return;
    }
    let query = state.daemon_query();
    if let Some(history) = &mut state.history {
        let wanted = history.wanted(&query, pushing_past);
        state.effects.extend(wanted.into_iter().map(Effect::Page));
    }
}

fn page_arrived(state: &mut State, answer: PageAnswer) {
    let rows = state.list_rows();
    let Some(history) = &mut state.history else {
        return;
    };
    let fetch = answer.fetch;
    match history.receive(answer) {
        Ok(false) => return,
        Ok(true) => {}
        Err(reason) => {
            state.notice = Some(format!("history: {reason}"));
            return;
        }
    }
    rebuild_view(&mut history.list, &state.filter);
    match fetch {
        Fetch::Oldest | Fetch::Newest => history.hold_after_jump(fetch, rows),
        Fetch::Older | Fetch::Newer => clamp_hold(&mut history.list, rows),
    }
    want_pages(state, false);
}

fn apply_edit(input: &mut LineInput, edit: Edit) {
    let chars = input.text.chars().count();
    match edit {
        Edit::Insert(c) => {
            let at = input.byte_cursor();
            input.text.insert(at, c);
            input.cursor += 1;
        }
        Edit::Backspace if input.cursor > 0 => {
            input.cursor -= 1;
            let at = input.byte_cursor();
            input.text.remove(at);
        }
        Edit::Delete if input.cursor < chars => {
            let at = input.byte_cursor();
            input.text.remove(at);
        }
        Edit::Backspace | Edit::Delete => {}
        Edit::Left => input.cursor = input.cursor.saturating_sub(1),
        Edit::Right => input.cursor = (input.cursor + 1).min(chars),
        Edit::Home => input.cursor = 0,
        Edit::End => input.cursor = chars,
        Edit::Clear => *input = LineInput::default(),
    }
}

fn submit(state: &mut State) -> Option<Action> {
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Normal => {
            if state.focus == Focus::Services {
                return Some(Action::ToggleService);
            }
            return Some(Action::ToggleDetail);
        }
        Mode::Filter(input) => match filter_query(&input.text) {
            Ok(parsed) => {
                state.filter.matcher = Matcher::new(&parsed.filter);
                state.filter.text = input.text;
                state.filter_error = None;
                refilter(state);
            }
            Err(e) => {
                // The old filter stays until this one parses.
                state.filter_error = Some(e);
                state.mode = Mode::Filter(input);
            }
        },
        Mode::Search(input) => {
            if input.text.is_empty() {
                state.search = None;
            } else {
                state.search = Some(Search {
                    needle: Needle::new(&input.text),
                    text: input.text,
                });
                // The nearest match at or above the selection.
                search_step(state, false, true);
            }
        }
    }
    None
}

/// Selects the next match of the search: newer when `forward`, else older,
/// wrapping around the ends; `inclusive` lets the selected record match.
fn search_step(state: &mut State, forward: bool, inclusive: bool) {
    let Some(search) = &state.search else {
        state.notice = Some("no search: press / to search".into());
        return;
    };
    let rows = state.list_rows();
    let list = state.list();
    let len = list.view.len();
    if len == 0 {
        state.notice = Some(format!("no match for \"{}\"", search.text));
        return;
    }
    // From follow mode, the search starts just past the newest record.
    let current = match list.position {
        Position::Follow => len,
        Position::Held(hold) => list.index_at_or_before(hold.selected),
    };
    let matches = |i: usize| {
        let seq = list.view[i];
        list.ring
            .get(seq)
            .is_some_and(|r| search.needle.is_in(&r.message))
    };
    let found = if forward {
        let start = if inclusive { current } else { current + 1 }.min(len);
        (start..len)
            .find(|&i| matches(i))
            .map(|i| (i, false))
            .or_else(|| (0..start).find(|&i| matches(i)).map(|i| (i, true)))
    } else {
        let end = if inclusive || current == len {
            current.min(len - 1) + 1
        } else {
            current
        };
        (0..end)
            .rev()
            .find(|&i| matches(i))
            .map(|i| (i, false))
            .or_else(|| (end..len).rev().find(|&i| matches(i)).map(|i| (i, true)))
    };
    match found {
        Some((index, wrapped)) => {
            let (top, since) = match list.position {
                Position::Follow => (len.saturating_sub(rows), list.ring.end_seq()),
                Position::Held(hold) => (list.index_at_or_after(hold.top), hold.since),
            };
            hold_at(state.list_mut(), rows, index, top, since);
            if wrapped {
                state.notice = Some("search wrapped".into());
            }
        }
        None => state.notice = Some(format!("no match for \"{}\"", search.text)),
    }
}
