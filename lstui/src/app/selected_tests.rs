//! Keys on the selected record: context, marks, copy, pager, save.

use logstream_shared::Level;

use super::context::ContextAnswer;
use super::effect::Ask;
use super::history_tests::{answer, selected_message, stored, take_request};
use super::save::{SaveProgress, SaveState};
use super::state::Mode;
use super::tests::{feed, record, state};
use super::{Action, Effect, State, apply};

fn take_effects(state: &mut State) -> Vec<Effect> {
    std::mem::take(&mut state.effects)
}

#[test]
fn x_asks_for_the_context_and_esc_closes_it() {
    let mut state = state(100);
    feed(&mut state, 0, 10);
    apply(&mut state, Action::Scroll(-2));
    apply(&mut state, Action::ShowContext);
    let Some(Effect::Ask(Ask::Context(request))) = take_effects(&mut state).pop() else {
        panic!("a context request");
    };
    assert_eq!(request.record.message, "request 7 done");
    let (before, after) = (vec![record(1, "web", Level::Info, "b")], Vec::new());
    let answer = ContextAnswer {
        id: request.record.id.clone(),
        result: Ok((before, request.record.clone(), after)),
    };
    apply(&mut state, Action::Context(answer));
    let (rows, at) = state.context.as_ref().unwrap().rows().unwrap();
    assert_eq!((rows.len(), at), (2, 1));
    // A late answer for another record changes nothing.
    let stale = ContextAnswer {
        id: "other".into(),
        result: Err("late".into()),
    };
    apply(&mut state, Action::Context(stale));
    assert!(state.context.as_ref().unwrap().rows().is_some());
    apply(&mut state, Action::Cancel);
    assert!(state.context.is_none());
}

#[test]
fn marks_are_jumped_to_in_view_and_in_history_past_the_window() {
    let mut state = state(100);
    feed(&mut state, 0, 10);
    apply(&mut state, Action::Scroll(-7)); // record 2
    apply(&mut state, Action::ToggleMark);
    apply(&mut state, Action::Follow);
    apply(&mut state, Action::NextMark { forward: false });
    assert_eq!(selected_message(&state), "request 2 done");
    apply(&mut state, Action::NextMark { forward: false });
    assert!(state.notice.as_deref().unwrap().contains("no mark before"));

    // In history the mark is not among the stored page on screen: the
    // window opens around it, and its neighbours are asked for.
    apply(&mut state, Action::ToggleHistory);
    let newest = take_request(&mut state);
    answer(&mut state, &newest, stored(10_000, 100), true);
    state.effects.clear();
    apply(&mut state, Action::NextMark { forward: false });
    assert_eq!(selected_message(&state), "request 2 done");
    let fetches: Vec<_> = take_effects(&mut state)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Ask(Ask::Page(page)) => Some(page.fetch),
            _ => None,
        })
        .collect();
    assert_eq!(fetches.len(), 2, "older and newer around the mark");
}

#[test]
fn y_and_o_hand_the_record_as_json_to_the_program() {
    let mut state = state(100);
    apply(&mut state, Action::Copy);
    assert!(state.effects.is_empty(), "nothing selected");
    feed(&mut state, 0, 3);
    apply(&mut state, Action::Copy);
    apply(&mut state, Action::OpenInPager);
    let effects = take_effects(&mut state);
    let [Effect::Copy(copied), Effect::Pager(paged)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(copied, paged);
    let json: serde_json::Value = serde_json::from_str(copied).unwrap();
    assert_eq!(json["message"], "request 2 done");
}

#[test]
fn s_saves_the_query_over_the_range_and_reports_progress() {
    let mut state = state(100);
    state.options.tail_query = Some("service:api".into());
    apply(&mut state, Action::StartSave);
    let Mode::Save(input) = &state.mode else {
        panic!("a save prompt");
    };
    assert!(input.text.starts_with("lstui-") && input.text.ends_with(".ndjson"));
    apply(&mut state, Action::Submit);
    let Some(Effect::Save(request)) = take_effects(&mut state).pop() else {
        panic!("a save");
    };
    assert_eq!(request.params.q.as_deref(), Some("(service:api)"));
    apply(&mut state, Action::StartSave);
    apply(&mut state, Action::Submit);
    assert!(state.effects.is_empty(), "one save at a time");
    assert!(state.notice.as_deref().unwrap().contains("still running"));
    let done = SaveProgress {
        path: request.path.clone(),
        written: 1234,
        state: SaveState::Done,
    };
    apply(&mut state, Action::Saving(done));
    assert!(
        state
            .save
            .as_ref()
            .unwrap()
            .describe()
            .contains("saved 1,234 records")
    );
}

#[test]
fn a_table_query_in_the_filter_bar_asks_the_daemon_and_esc_goes_back() {
    use super::table::TableAnswer;
    use logstream_shared::api::TablePage;
    let mut state = state(100);
    state.mode = Mode::Filter(super::state::LineInput::new("error | top 3 service"));
    apply(&mut state, Action::Submit);
    assert_eq!(state.filter_error, None);
    let Some(Effect::Ask(Ask::Table(request))) = take_effects(&mut state).pop() else {
        panic!("a table request");
    };
    assert_eq!(request.params.q.as_deref(), Some("(error) | top 3 service"));
    let page: TablePage = serde_json::from_value(serde_json::json!({
        "status": "success", "result": 1, "truncated": false,
        "columns": [{"name": "service", "type": "string"}, {"name": "count", "type": "integer"}],
        "rows": [["api", 7]],
    }))
    .unwrap();
    let answer = TableAnswer {
        generation: request.generation,
        result: Ok(page),
    };
    apply(&mut state, Action::Table(answer));
    assert_eq!(state.table.as_ref().unwrap().rows(), 1);
    // Levels still narrow the table: it is asked for again.
    apply(&mut state, Action::ToggleLevel(Level::Debug));
    let Some(Effect::Ask(Ask::Table(again))) = take_effects(&mut state).pop() else {
        panic!("the table again");
    };
    assert_eq!(
        again.params.q.as_deref(),
        Some("(error) -level:DEBUG | top 3 service")
    );
    apply(&mut state, Action::Cancel);
    assert!(state.table.is_none());
    assert_eq!(state.filter.text, "error");

    state.mode = Mode::Filter(super::state::LineInput::new("error | limit 3"));
    apply(&mut state, Action::Submit);
    assert!(
        state.filter_error.is_some(),
        "records stages are not a table"
    );
}
