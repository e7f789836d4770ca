//! History mode's effect sequences: which pages `update` asks for as the
//! view moves, and what it does with the answers (stale ones dropped).

use logstream_shared::api::Direction;
use logstream_shared::{Cursor, Level, LogRecord};

use super::effect::Ask;
use super::history::{Edge, Fetch, PAGE, PageAnswer, PageRequest, WINDOW, daemon_query};
use super::tests::{record, state};
use super::{Action, Effect, State, apply};

/// Records `first..first + count`, oldest first.
pub(super) fn stored(first: u64, count: u64) -> Vec<LogRecord> {
    (first..first + count)
        .map(|n| record(n, "api", Level::Info, &format!("stored {n}")))
        .collect()
}

/// The one page request `update` made since the last call (timelines and
/// facets asked for with it are dropped).
pub(super) fn take_request(state: &mut State) -> PageRequest {
    take_one(state, |effect| match effect {
        Effect::Ask(Ask::Page(request)) => Some(request),
        _ => None,
    })
}

/// The one effect that `pick` takes among those `update` asked for since
/// the last call; the others are dropped.
pub(super) fn take_one<T: std::fmt::Debug>(state: &mut State, pick: fn(Effect) -> Option<T>) -> T {
    let mut picked: Vec<T> = std::mem::take(&mut state.effects)
        .into_iter()
        .filter_map(pick)
        .collect();
    assert_eq!(picked.len(), 1, "one asked for: {picked:?}");
    picked.pop().unwrap()
}

/// Answers a request with records in the order the daemon sends them.
pub(super) fn answer(
    state: &mut State,
    request: &PageRequest,
    mut records: Vec<LogRecord>,
    more: bool,
) {
    if request.params.direction == Some(Direction::Backward) {
        records.reverse();
    }
    apply(
        state,
        Action::Page(PageAnswer {
            generation: request.generation,
            fetch: request.fetch,
            result: Ok((records, more)),
        }),
    );
}

pub(super) fn selected_message(state: &State) -> String {
    state.selected_record().unwrap().message.clone()
}

#[test]
fn history_opens_at_the_newest_and_pages_older_near_the_top() {
    let mut state = state(100);
    apply(&mut state, Action::ToggleHistory);
    let newest = take_request(&mut state);
    assert_eq!(newest.fetch, Fetch::Newest);
    assert_eq!(newest.params.direction, Some(Direction::Backward));
    assert_eq!(newest.params.limit, Some(PAGE));
    assert_eq!(newest.params.cursor, None);
    answer(&mut state, &newest, stored(10_000, PAGE as u64), true);
    assert_eq!(state.list().view.len(), PAGE);
    assert_eq!(
        selected_message(&state),
        format!("stored {}", 10_000 + PAGE - 1)
    );
    assert!(state.effects.is_empty(), "far from the older edge");

    // Up to near the top: the page before the oldest record is asked for.
    apply(&mut state, Action::Scroll(-(PAGE as isize - 10)));
    let older = take_request(&mut state);
    assert_eq!(older.fetch, Fetch::Older);
    assert_eq!(older.params.direction, Some(Direction::Backward));
    let oldest = record(10_000, "api", Level::Info, "");
    assert_eq!(older.params.cursor, Some(Cursor::of(&oldest).encode()));
    apply(&mut state, Action::Scroll(-1));
    assert!(state.effects.is_empty(), "asked once while it loads");

    let before = selected_message(&state);
    answer(
        &mut state,
        &older,
        stored(10_000 - PAGE as u64, PAGE as u64),
        false,
    );
    assert_eq!(state.list().view.len(), 2 * PAGE);
    assert_eq!(selected_message(&state), before, "the selection stays put");
    assert_eq!(state.history.as_ref().unwrap().older, Edge::End);
    apply(&mut state, Action::Scroll(-(PAGE as isize)));
    assert!(state.effects.is_empty(), "nothing older is stored");
}

#[test]
fn a_stale_page_is_dropped() {
    let mut state = state(100);
    apply(&mut state, Action::ToggleHistory);
    let newest = take_request(&mut state);
    // The user jumps to the oldest record before the newest page arrives.
    apply(&mut state, Action::Oldest);
    let oldest = take_request(&mut state);
    assert_eq!(oldest.fetch, Fetch::Oldest);
    assert_eq!(oldest.params.direction, Some(Direction::Forward));
    assert!(oldest.generation > newest.generation);

    answer(&mut state, &newest, stored(900, 100), true);
    assert!(
        state.list().view.is_empty(),
        "the newest page came too late"
    );
    answer(&mut state, &oldest, stored(0, 100), true);
    assert_eq!(state.list().view.len(), 100);
    assert_eq!(selected_message(&state), "stored 0");
}

#[test]
fn the_window_stays_bounded_and_pages_back_what_it_dropped() {
    let mut state = state(100);
    apply(&mut state, Action::ToggleHistory);
    apply(&mut state, Action::Oldest);
    let _stale = std::mem::take(&mut state.effects);
    let mut request = state
        .history
        .as_mut()
        .unwrap()
        .jump(Fetch::Oldest, String::new());
    let mut first = 0;
    // Down through twelve pages, each asked for near the bottom.
    for _ in 0..12 {
        answer(&mut state, &request, stored(first, PAGE as u64), true);
        first += PAGE as u64;
        apply(&mut state, Action::Scroll(PAGE as isize));
        request = take_request(&mut state);
        assert_eq!(request.fetch, Fetch::Newer);
    }
    let history = state.history.as_ref().unwrap();
    assert_eq!(history.list.ring.len(), WINDOW);
    assert_eq!(history.older, Edge::More, "pages were dropped at the top");
    assert_eq!(
        history.list.ring.first().unwrap().message,
        format!("stored {}", first - WINDOW as u64)
    );
    // Back up to the top of the window: the dropped page is asked again.
    let _ = std::mem::take(&mut state.effects);
    state.history.as_mut().unwrap().newer = Edge::End;
    apply(&mut state, Action::Scroll(-(WINDOW as isize)));
    let older = take_request(&mut state);
    assert_eq!(older.fetch, Fetch::Older);
}

#[test]
fn back_to_live_keeps_the_tail_that_arrived_meanwhile() {
    let mut state = state(100);
    apply(&mut state, Action::ToggleHistory);
    let newest = take_request(&mut state);
    answer(&mut state, &newest, stored(0, 10), false);
    super::tests::feed(&mut state, 1000, 5);
    assert_eq!(state.list().view.len(), 10, "history is on screen");
    apply(&mut state, Action::ToggleHistory);
    assert!(state.history.is_none());
    assert_eq!(state.list().view.len(), 5, "the live tail went on");
}

#[test]
fn history_asks_the_daemon_for_the_whole_view_filter() {
    let mut state = state(100);
    state.options.tail_query = Some("service:api OR service:web".into());
    state.filter.text = "timeout".into();
    state.filter.levels[usize::from(Level::Debug.as_u8())] = false;
    state.filter.services.insert("web \"edge\"".into());
    assert_eq!(
        daemon_query(state.options.tail_query.as_deref(), &state.filter),
        r#"(service:api OR service:web) (timeout) -level:DEBUG service:"web \"edge\"""#
    );
    // Every part parses, and means what the view shows.
    let query: logstream_shared::Query = state.daemon_query().parse().unwrap();
    assert!(query.stages.is_empty());
}

#[test]
fn scrolling_past_the_newest_stored_record_continues_in_the_live_tail() {
    let mut state = state(100);
    super::tests::feed(&mut state, 1000, 10);
    apply(&mut state, Action::ToggleHistory);
    let newest = take_request(&mut state);
    // Stored up to record 1004, which the live tail holds too.
    answer(&mut state, &newest, stored(990, 15), false);
    assert_eq!(selected_message(&state), "stored 1004");
    apply(&mut state, Action::Scroll(1));
    assert!(state.history.is_none(), "live again");
    assert_eq!(
        selected_message(&state),
        "request 1005 done",
        "no gap, no duplicate"
    );
}

#[test]
fn history_pages_on_before_handing_over_when_the_tail_started_later() {
    let mut state = state(100);
    super::tests::feed(&mut state, 2000, 5);
    apply(&mut state, Action::ToggleHistory);
    let newest = take_request(&mut state);
    answer(&mut state, &newest, stored(990, 15), false);
    // Records 1005…1999 may be stored: history asks for them first.
    apply(&mut state, Action::Scroll(1));
    assert!(state.history.is_some());
    assert_eq!(take_request(&mut state).fetch, Fetch::Newer);
}
