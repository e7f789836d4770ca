//! What keys do with the selected record: its context, marks, the
//! clipboard, the pager; and saving the query's results to a file.

use logstream_shared::LogRecord;
use logstream_shared::api::Direction;

use super::context::{ContextAnswer, ContextRequest, ContextView};
use super::effect::{Ask, Effect};
use super::save::{SAVE_PAGE, SaveProgress, SaveRequest, SaveState};
use super::state::State;
use super::update::{select_index, want_pages};

/// `x`: asks for the selected record's context, or closes it.
pub fn show_context(state: &mut State) {
    let Some(record) = state.selected_record().cloned() else {
        state.notice = Some("no record selected".into());
        return;
    };
    if state.context.as_ref().is_some_and(|c| c.id == record.id) {
        state.context = None;
        return;
    }
    state.context = Some(ContextView {
        id: record.id.clone(),
        status: None,
    });
    state
        .effects
        .push(Effect::Ask(Ask::Context(ContextRequest { record })));
}

pub fn context_arrived(state: &mut State, answer: ContextAnswer) {
    if let Some(view) = &mut state.context
        && view.id == answer.id
    {
        view.status = Some(answer);
    }
}

pub fn toggle_mark(state: &mut State) {
    let Some(record) = state.selected_record().cloned() else {
        state.notice = Some("no record selected".into());
        return;
    };
    let marked = state.marks.toggle(&record);
    let count = state.marks.len();
    state.notice = Some(match marked {
        true => format!("marked ({count} marks; u/U jump between them)"),
        false => format!("unmarked ({count} marks)"),
    });
}

/// `u`/`U`: selects the next mark in view; in history a mark outside the
/// window opens a window around it.
pub fn next_mark(state: &mut State, forward: bool) {
    let Some(mark) = state.marks.next(state.selected_record(), forward).cloned() else {
        let direction = if forward { "after" } else { "before" };
        state.notice = Some(format!("no mark {direction} this record (m marks one)"));
        return;
    };
    let list = state.list();
    let index = list
        .view
        .iter()
        .position(|&seq| list.ring.get(seq).is_some_and(|r| r.id == mark.id));
    match (index, &mut state.history) {
        (Some(index), _) => select_index(state, index),
        (None, Some(history)) => {
            history.anchor(mark);
            want_pages(state, false);
        }
        (None, None) => {
            state.notice = Some("that mark left the live tail's buffer: h finds it".into())
        }
    }
}

/// The selected record as JSON for `y` and `o`.
pub fn record_json(state: &mut State, effect: fn(String) -> Effect) {
    let Some(record) = state.selected_record() else {
        state.notice = Some("no record selected".into());
        return;
    };
    let json = pretty(record);
    state.effects.push(effect(json));
}

fn pretty(record: &LogRecord) -> String {
    serde_json::to_string_pretty(record).unwrap_or_else(|e| e.to_string()) + "\n"
}

/// Saves every record of the query over history's range (also from the
/// live view: the range lstui was started with) to `path`.
pub fn save(state: &mut State, path: String) {
    if state
        .save
        .as_ref()
        .is_some_and(|s| s.state == SaveState::Running)
    {
        state.notice = Some("a save is still running".into());
        return;
    }
    let range = state.range();
    let params = range.params(state.daemon_query(), None, Direction::Forward, SAVE_PAGE);
    state.save = Some(SaveProgress {
        path: path.clone(),
        written: 0,
        state: SaveState::Running,
    });
    state
        .effects
        .push(Effect::Save(SaveRequest { path, params }));
}
