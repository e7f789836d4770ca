//! `update`: the one place where the state changes.

use super::action::{Action, Edit, NetEvent};
use super::effect::{Ask, Effect};
use super::filter::{Matcher, Needle, ViewFilter, bar_query};
use chrono::{DateTime, Local, Utc};
use logstream_shared::time::parse_time_in;
use logstream_shared::{LogRecord, Query};

use super::facets::{clause, toggle_clause};
use super::history::{
    Edge, Fetch, FindAnswer, History, PageAnswer, Seek, Severity, hand_over_point,
};
use super::list::{Hold, List, Position};
use super::save::default_path;
use super::selected;
use super::state::{Connection, Focus, LineInput, Mode, Search, State};
use super::table::{TableRequest, TableView};
use super::timeline::Buckets;
use logstream_shared::api::{Direction, SearchParams};

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
        Action::Found(answer) => found(state, answer),
        Action::SeekLevel { severity, forward } => seek_level(state, severity, forward),
        Action::StartTimeJump => state.mode = Mode::Time(LineInput::default()),
        Action::ShowContext => selected::show_context(state),
        Action::Context(answer) => selected::context_arrived(state, answer),
        Action::Table(answer) => {
            if let Some(table) = &mut state.table {
                table.receive(answer);
            }
        }
        Action::ToggleMark => selected::toggle_mark(state),
        Action::NextMark { forward } => selected::next_mark(state, forward),
        Action::Copy => {
            selected::record_json(state, Effect::Copy);
            if state.notice.is_none() {
                state.notice = Some("copied the record as JSON (OSC 52)".into());
            }
        }
        Action::OpenInPager => selected::record_json(state, Effect::Pager),
        Action::StartSave => state.mode = Mode::Save(LineInput::new(&default_path(Local::now()))),
        Action::Saving(progress) => state.save = Some(progress),
        Action::Timeline(answer) => state.timeline.receive(answer),
        Action::Facets(answer) => state.facets.receive(answer),
        Action::TimelineStep { forward } => timeline_step(state, forward),
        Action::TimelineClick(column) => timeline_click(state, column),
        Action::Zoom { inward } => zoom(state, inward),
        Action::ToggleHistory => toggle_history(state),
        Action::Scroll(delta) if state.table.is_some() && state.focus == Focus::Logs => {
            if let Some(table) = &mut state.table {
                let last = table.rows().saturating_sub(1);
                table.offset = table.offset.saturating_add_signed(delta).min(last);
            }
        }
        Action::Scroll(delta) => match state.focus {
            Focus::Logs => {
                let at_newest = state.list().selected_seq() == state.list().view.back().copied();
                if delta > 0 && at_newest && hand_over_to_live(state) {
                    return None;
                }
                move_shown(state, delta);
                want_pages(state, delta > 0 && at_newest);
            }
            Focus::Services if state.history.is_some() => {
                let last = state.facets.len().saturating_sub(1);
                let cursor = &mut state.facets.cursor;
                *cursor = cursor.saturating_add_signed(delta).min(last);
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
        Action::ToggleRelativeTimes => state.relative_times = !state.relative_times,
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
        Action::ToggleService if state.history.is_some() => toggle_facet(state),
        Action::ToggleService => {
            if let Some(name) = state.services.counts.keys().nth(state.service_cursor) {
                state.filter.toggle_service(name.clone());
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
                state.filter_error = bar_query(&input.text).err();
            }
            Mode::Search(input) | Mode::Time(input) | Mode::Save(input) => apply_edit(input, edit),
        },
        Action::Submit => return submit(state),
        Action::Cancel => {
            if state.mode != Mode::Normal {
                state.mode = Mode::Normal;
                state.filter_error = None;
            } else if state.help {
                state.help = false;
            } else if state.table.is_some() {
                // Back to the records of the filter.
                state.table = None;
                state.filter.text = state.filter.filter_text().to_string();
            } else if state.context.is_some() {
                state.context = None;
                clamp_shown(state);
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

/// A new filter bar query (`text`, parsed).
fn set_filter(state: &mut State, text: String, parsed: &Query) {
    state.filter.matcher = Matcher::new(&parsed.filter);
    state.filter.text = text;
    if parsed.stages.is_empty() {
        state.table = None;
    }
    refilter(state);
}

/// Asks the daemon for the filter bar's table over the range.
fn ask_table(state: &mut State) {
    let range = state.range();
    let query = format!("{} {}", state.daemon_query(), state.filter.stages());
    state.tables_asked += 1;
    let generation = state.tables_asked;
    let params = range.params(query.trim().to_string(), None, Direction::Forward, 1000);
    let params = SearchParams {
        direction: None,
        limit: None,
        ..params
    };
    state.table = Some(TableView {
        generation,
        query: query.trim().to_string(),
        ..TableView::default()
    });
    state
        .effects
        .push(Effect::Ask(Ask::Table(TableRequest { generation, params })));
}

/// Rebuilds the views after the filter changed; history asks the daemon
/// again, from the newest record of its range.
fn refilter(state: &mut State) {
    let rows = state.list_rows();
    rebuild_view(&mut state.live, &state.filter);
    clamp_hold(&mut state.live, rows);
    if !state.filter.stages().is_empty() {
        ask_table(state);
    }
    if state.history.is_some() {
        jump(state, Fetch::Newest);
        ask_summaries(state);
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
        ask_summaries(state);
    }
    state.focus = Focus::Logs;
}

/// Past history's newest record into the live tail, at the first record
/// after it, when nothing can lie between them; false if it cannot yet.
fn hand_over_to_live(state: &mut State) -> bool {
    let Some(point) = state
        .history
        .as_ref()
        .and_then(|h| hand_over_point(h, &state.live))
    else {
        return false;
    };
    state.history = None;
    state.notice = Some("live: the tail goes on after the newest stored record".into());
    match point {
        Some(index) => select_index(state, index),
        None => state.live.position = Position::Follow,
    }
    true
}

/// A new history window at the oldest or newest record of the range.
fn jump(state: &mut State, fetch: Fetch) {
    if state.history.is_none() {
        return;
    }
    let query = state.daemon_query();
    if let Some(history) = &mut state.history {
        state
            .effects
            .push(Effect::Ask(Ask::Page(history.jump(fetch, query))));
    }
}

/// Asks for the pages that the selection is near (see `History::wanted`).
pub(super) fn want_pages(state: &mut State, pushing_past: bool) {
    // Every scroll comes here; only history needs the query.
    if state.history.is_none() {
        return;
    }
    let query = state.daemon_query();
    if let Some(history) = &mut state.history {
        let wanted = history.wanted(&query, pushing_past);
        state
            .effects
            .extend(wanted.into_iter().map(|r| Effect::Ask(Ask::Page(r))));
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
        Fetch::Older if history.anchored => {
            // Shows a third of a screen of what came before the jump's record.
            history.anchored = false;
            let list = &mut history.list;
            if let Position::Held(hold) = list.position {
                let selected = list.index_at_or_before(hold.selected);
                hold_at(
                    list,
                    rows,
                    selected,
                    selected.saturating_sub(rows / 3),
                    hold.since,
                );
            }
        }
        Fetch::Older | Fetch::Newer => clamp_hold(&mut history.list, rows),
    }
    want_pages(state, false);
}

/// `e`/`E`, `w`/`W`: the next record of a severity in view; in history,
/// past the window's edge when the window has none.
fn seek_level(state: &mut State, severity: Severity, forward: bool) {
    let list = state.list();
    let gap = search_start(list, forward, false);
    if let Some(index) = find_in_view(list, gap, forward, |r| severity.accepts(r.level)) {
        return select_index(state, index);
    }
    let direction = if forward { "newer" } else { "older" };
    let Some(history) = &state.history else {
        state.notice = Some(format!(
            "no {direction} {} in the live tail",
            severity.name()
        ));
        return;
    };
    let edge = if forward {
        history.newer
    } else {
        history.older
    };
    if edge == Edge::End {
        state.notice = Some(format!("no {direction} {} in the range", severity.name()));
        return;
    }
    let request = history.find(Seek::Level { severity, forward }, &state.daemon_query());
    state.notice = Some(format!("looking for the {direction} {}…", severity.name()));
    state.effects.push(Effect::Ask(Ask::Find(request)));
}

/// `t`: history at the first record at or after `at` (the range widens to
/// reach back to it).
fn jump_to_time(state: &mut State, at: DateTime<Utc>) {
    let opened = state.history.is_none();
    if opened {
        state.history = Some(History::new(state.options.range.clone()));
        state.focus = Focus::Logs;
    }
    let query = state.daemon_query();
    let Some(history) = &mut state.history else {
        return;
    };
    if history.range.until.is_some_and(|until| at >= until) {
        state.notice = Some("that time is after the end of the range".into());
        return;
    }
    let widened = history.range.since.is_some_and(|since| at < since);
    if widened {
        history.range.since = Some(at);
    }
    history.generation += 1;
    state
        .effects
        .push(Effect::Ask(Ask::Find(history.find(Seek::Time(at), &query))));
    if opened || widened {
        ask_summaries(state);
    }
}

/// Asks for the timeline and the facets of history's query and range.
fn ask_summaries(state: &mut State) {
    let (query, columns) = (state.daemon_query(), state.timeline_columns());
    if let Some(history) = &state.history {
        let range = history.range.clone();
        let timeline = state.timeline.ask(query.clone(), range.clone(), columns);
        let facets = state.facets.ask(query, range);
        state.effects.push(Effect::Ask(Ask::Timeline(timeline)));
        state.effects.push(Effect::Ask(Ask::Facets(facets)));
    }
}

/// The highlighted facet value into the filter, or out of it: a service
/// through the service choice (as in the live list), any other field as a
/// clause of the filter bar's query.
fn toggle_facet(state: &mut State) {
    let Some((field, value)) = state.facets.selected() else {
        return;
    };
    if field == "service" {
        state.filter.toggle_service(value);
        return refilter(state);
    }
    let (filter, _) = toggle_clause(state.filter.filter_text(), &clause(&field, &value));
    let text = format!("{filter} {}", state.filter.stages())
        .trim()
        .to_string();
    match bar_query(&text) {
        Ok(parsed) => set_filter(state, text, &parsed),
        // A filter bar that already failed to combine: say so, change nothing.
        Err(e) => state.notice = Some(format!("cannot add {field}: {}", e.message)),
    }
}

/// The timeline bucket of the selected record, with the timeline.
fn marked_bucket(state: &State) -> Option<(&Buckets, usize)> {
    state.history.as_ref()?;
    let buckets = state.timeline.buckets()?;
    let at = state.selected_record()?.timestamp;
    Some((buckets, buckets.index_of(at)?))
}

fn timeline_step(state: &mut State, forward: bool) {
    let Some((buckets, index)) = marked_bucket(state) else {
        state.notice = Some("the timeline is for history: h opens it".into());
        return;
    };
    match buckets.next_busy(index, forward) {
        Some(next) => {
            let at = buckets.start_of(next);
            jump_to_time(state, at);
        }
        None => state.notice = Some("no more records on the timeline that way".into()),
    }
}

fn timeline_click(state: &mut State, column: u16) {
    let Some(buckets) = state.timeline.buckets() else {
        return;
    };
    let index = buckets.visible(state.timeline_columns()).start + usize::from(column);
    if state.history.is_some() && index < buckets.counts.len() {
        let at = buckets.start_of(index);
        jump_to_time(state, at);
    }
}

/// `+`/`-`: the range halved or doubled around the selected record, which
/// stays selected.
fn zoom(state: &mut State, inward: bool) {
    let (Some(history), Some(buckets)) = (&state.history, state.timeline.buckets()) else {
        state.notice = Some("zoom is for history's timeline: h opens it".into());
        return;
    };
    let centre = match state.selected_record() {
        Some(record) => record.timestamp,
        None => buckets.start_of(buckets.counts.len() / 2),
    };
    let range = buckets.zoom(centre, inward, Utc::now());
    if range == history.range {
        return;
    }
    if let Some(history) = &mut state.history {
        history.range = range;
    }
    ask_summaries(state);
    jump_to_time(state, centre);
}

fn found(state: &mut State, answer: FindAnswer) {
    let Some(history) = &mut state.history else {
        return;
    };
    if answer.generation != history.generation {
        return;
    }
    state.notice = None;
    match (answer.result, answer.seek) {
        (Ok(Some(record)), _) => {
            history.anchor(record);
            want_pages(state, false);
        }
        (Ok(None), Seek::Level { severity, forward }) => {
            let direction = if forward { "newer" } else { "older" };
            state.notice = Some(format!("no {direction} {} in the range", severity.name()));
        }
        (Ok(None), Seek::Time(_)) => {
            state.notice = Some("nothing stored from then on: the newest records".into());
            jump(state, Fetch::Newest);
        }
        (Err(reason), _) => state.notice = Some(format!("history: {reason}")),
    }
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
        Mode::Filter(input) => match bar_query(&input.text) {
            Ok(parsed) => {
                state.filter_error = None;
                set_filter(state, input.text, &parsed);
            }
            Err(e) => {
                // The old filter stays until this one parses.
                state.filter_error = Some(e);
                state.mode = Mode::Filter(input);
            }
        },
        Mode::Save(input) if input.text.trim().is_empty() => {
            state.notice = Some("a file name is needed".into());
            state.mode = Mode::Save(input);
        }
        Mode::Save(input) => selected::save(state, input.text.trim().to_string()),
        Mode::Time(input) => {
            let parsed = if state.options.utc {
                parse_time_in(&input.text, Utc::now(), &Utc)
            } else {
                parse_time_in(&input.text, Utc::now(), &Local)
            };
            match parsed {
                Ok(at) => jump_to_time(state, at),
                Err(e) => {
                    state.notice = Some(e);
                    state.mode = Mode::Time(input);
                }
            }
        }
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
    let list = state.list();
    let matches = |r: &LogRecord| search.needle.is_in(&r.message);
    let gap = search_start(list, forward, inclusive);
    let found = find_in_view(list, gap, forward, matches).map(|i| (i, false));
    // Round the end: from the other end on.
    let other_end = if forward { 0 } else { list.view.len() };
    let wrapped = || find_in_view(list, other_end, forward, matches).map(|i| (i, true));
    match found.or_else(wrapped) {
        Some((index, wrapped)) => {
            select_index(state, index);
            if wrapped {
                state.notice = Some("search wrapped".into());
            }
        }
        None => state.notice = Some(format!("no match for \"{}\"", search.text)),
    }
}

/// Where a search from the selection starts, as a gap between records in
/// view (0: before the oldest; the view's length: after the newest, where
/// following is); `inclusive` puts the selected record itself in the way.
fn search_start(list: &List, forward: bool, inclusive: bool) -> usize {
    let len = list.view.len();
    match list.position {
        Position::Follow => len,
        Position::Held(hold) => {
            let selected = list.index_at_or_before(hold.selected);
            // Newer and past the selection, or older and through it.
            let after = forward != inclusive;
            (selected + usize::from(after)).min(len)
        }
    }
}

/// The first record in view from `gap` on, newer when `forward`, else
/// older, that `accepts`.
fn find_in_view(
    list: &List,
    gap: usize,
    forward: bool,
    accepts: impl Fn(&LogRecord) -> bool,
) -> Option<usize> {
    let at = |i: &usize| list.ring.get(list.view[*i]).is_some_and(&accepts);
    if forward {
        (gap..list.view.len()).find(at)
    } else {
        (0..gap.min(list.view.len())).rev().find(at)
    }
}

/// Selects `view[index]`, scrolling as little as possible.
pub(super) fn select_index(state: &mut State, index: usize) {
    let rows = state.list_rows();
    let list = state.list_mut();
    let len = list.view.len();
    let (top, since) = match list.position {
        Position::Follow => (len.saturating_sub(rows), list.ring.end_seq()),
        Position::Held(hold) => (list.index_at_or_after(hold.top), hold.since),
    };
    hold_at(list, rows, index, top, since);
}
