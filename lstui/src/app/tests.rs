//! `update` without a terminal or a network: actions in, state out.

use chrono::TimeZone;
use logstream_shared::{Level, LogRecord};

use super::list::Position;
use super::state::{Connection, Focus, Mode};
use super::{Action, Edit, NetEvent, Options, State, apply};

pub(crate) fn record(n: u64, service: &str, level: Level, message: &str) -> LogRecord {
    LogRecord {
        id: format!("0190a000-0000-7000-8000-{n:012}"),
        timestamp: chrono::Utc
            .with_ymd_and_hms(2026, 3, 14, 15, 9, 26)
            .unwrap()
            + chrono::Duration::milliseconds(i64::try_from(n).unwrap() * 250),
        service: service.into(),
        level,
        message: message.into(),
        host: None,
        trace_id: None,
        span_id: None,
        attributes: Default::default(),
    }
}

/// A state on a 100×30 terminal holding at most `capacity` records.
pub(crate) fn state(capacity: usize) -> State {
    let options = Options {
        capacity,
        utc: true,
        ..Options::default()
    };
    State::new(options, (100, 30))
}

/// Records `first..first + count`: services api/web/db in turn, every
/// fifth an ERROR.
pub(crate) fn feed(state: &mut State, first: u64, count: u64) {
    let records = (first..first + count)
        .map(|n| {
            let service = ["api", "web", "db"][usize::try_from(n % 3).unwrap()];
            let level = if n % 5 == 0 {
                Level::Error
            } else {
                Level::Info
            };
            record(n, service, level, &format!("request {n} done"))
        })
        .collect();
    apply(state, Action::Net(NetEvent::Records(records)));
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        apply(state, Action::Edit(Edit::Insert(c)));
    }
}

fn selected_message(state: &State) -> String {
    state.selected_record().unwrap().message.clone()
}

#[test]
fn ring_buffer_keeps_the_newest_and_the_view_follows() {
    let mut state = state(100);
    feed(&mut state, 0, 250);
    assert_eq!(state.live.ring.len(), 100);
    assert_eq!(state.received, 250);
    assert_eq!(state.live.ring.first_seq(), 150);
    assert_eq!(state.live.view.len(), 100);
    assert_eq!(state.live.view.front(), Some(&150));
    assert_eq!(selected_message(&state), "request 249 done");
    // Counts cover everything received, not just what is held.
    assert_eq!(state.services.counts["api"], 84);
}

#[test]
fn a_filter_that_does_not_parse_keeps_the_old_one() {
    let mut state = state(1000);
    feed(&mut state, 0, 30);
    apply(&mut state, Action::StartFilter);
    type_text(&mut state, "service:web");
    apply(&mut state, Action::Submit);
    assert_eq!(state.mode, Mode::Normal);
    assert_eq!(state.live.view.len(), 10);

    apply(&mut state, Action::StartFilter);
    type_text(&mut state, " level>=loud");
    // The error shows while typing, with the column.
    let error = state.filter_error.clone().expect("a parse error");
    assert!(error.column > 12, "{error:?}");
    apply(&mut state, Action::Submit);
    assert!(matches!(state.mode, Mode::Filter(_)), "still editing");
    assert_eq!(state.filter.text, "service:web");
    assert_eq!(state.live.view.len(), 10, "the old filter is still applied");

    // Fixing it applies it.
    for _ in 0..4 {
        apply(&mut state, Action::Edit(Edit::Backspace));
    }
    type_text(&mut state, "error");
    assert_eq!(state.filter_error, None);
    apply(&mut state, Action::Submit);
    assert_eq!(state.filter.text, "service:web level>=error");
    // web is n % 3 == 1, errors n % 5 == 0: 10 and 25.
    assert_eq!(state.live.view.len(), 2);

    // Esc while editing leaves the applied filter alone.
    apply(&mut state, Action::StartFilter);
    apply(&mut state, Action::Edit(Edit::Clear));
    apply(&mut state, Action::Cancel);
    assert_eq!(state.filter.text, "service:web level>=error");
    assert_eq!(state.live.view.len(), 2);

    // New records are filtered as they arrive.
    feed(&mut state, 30, 30);
    assert_eq!(state.live.view.len(), 4);
}

#[test]
fn pausing_holds_the_view_and_counts_what_arrives() {
    let mut state = state(1000);
    feed(&mut state, 0, 50);
    apply(&mut state, Action::TogglePause);
    let Position::Held(hold) = state.live.position else {
        panic!("not held")
    };
    assert_eq!(selected_message(&state), "request 49 done");
    assert_eq!(state.live.arrived_while_held(), Some((0, 0)));

    feed(&mut state, 50, 20);
    assert_eq!(
        state.live.position,
        Position::Held(hold),
        "the view did not move"
    );
    assert_eq!(selected_message(&state), "request 49 done");
    assert_eq!(state.live.arrived_while_held(), Some((20, 20)));

    // The counter counts what the filter lets through.
    apply(&mut state, Action::ToggleLevel(Level::Info));
    assert_eq!(state.live.arrived_while_held(), Some((4, 20)));
    apply(&mut state, Action::ToggleLevel(Level::Info));

    // Following again goes to the newest.
    apply(&mut state, Action::TogglePause);
    assert_eq!(state.live.position, Position::Follow);
    assert_eq!(selected_message(&state), "request 69 done");
    assert_eq!(state.live.arrived_while_held(), None);
}

#[test]
fn scrolling_pauses_and_follow_returns_to_the_newest() {
    let mut state = state(1000);
    feed(&mut state, 0, 100);
    apply(&mut state, Action::Scroll(-3));
    assert_eq!(selected_message(&state), "request 96 done");
    apply(&mut state, Action::PageUp);
    let rows = state.list_rows();
    assert_eq!(
        selected_message(&state),
        format!("request {} done", 96 - (rows - 1))
    );
    apply(&mut state, Action::Oldest);
    assert_eq!(selected_message(&state), "request 0 done");
    apply(&mut state, Action::Scroll(-5));
    assert_eq!(
        selected_message(&state),
        "request 0 done",
        "stops at the top"
    );
    feed(&mut state, 100, 10);
    apply(&mut state, Action::Follow);
    assert_eq!(state.live.position, Position::Follow);
    assert_eq!(selected_message(&state), "request 109 done");
}

#[test]
fn a_held_view_pushed_out_of_the_ring_moves_to_the_oldest_left() {
    let mut state = state(100);
    feed(&mut state, 0, 100);
    apply(&mut state, Action::Oldest);
    feed(&mut state, 100, 30);
    assert_eq!(selected_message(&state), "request 30 done");
    assert_eq!(state.live.arrived_while_held(), Some((30, 30)));
}

#[test]
fn search_next_and_previous_wrap_around() {
    let mut state = state(1000);
    let messages = ["alpha", "beta", "gamma alpha", "delta", "ALPHA omega"];
    let records = messages
        .iter()
        .enumerate()
        .map(|(i, m)| record(i as u64, "api", Level::Info, m))
        .collect();
    apply(&mut state, Action::Net(NetEvent::Records(records)));

    apply(&mut state, Action::StartSearch);
    type_text(&mut state, "alpha");
    apply(&mut state, Action::Submit);
    // From follow mode, the newest match, found without case.
    assert_eq!(selected_message(&state), "ALPHA omega");
    apply(&mut state, Action::SearchPrev);
    assert_eq!(selected_message(&state), "gamma alpha");
    apply(&mut state, Action::SearchPrev);
    assert_eq!(selected_message(&state), "alpha");
    assert_eq!(state.notice, None);
    apply(&mut state, Action::SearchPrev);
    assert_eq!(selected_message(&state), "ALPHA omega");
    assert_eq!(state.notice.as_deref(), Some("search wrapped"));
    apply(&mut state, Action::SearchNext);
    assert_eq!(selected_message(&state), "alpha");
    apply(&mut state, Action::SearchNext);
    assert_eq!(selected_message(&state), "gamma alpha");

    apply(&mut state, Action::StartSearch);
    apply(&mut state, Action::Edit(Edit::Clear));
    type_text(&mut state, "zeta");
    apply(&mut state, Action::Submit);
    assert_eq!(selected_message(&state), "gamma alpha", "no match: stays");
    assert_eq!(state.notice.as_deref(), Some("no match for \"zeta\""));
}

#[test]
fn level_toggles_hide_and_show_levels() {
    let mut state = state(1000);
    feed(&mut state, 0, 20);
    apply(&mut state, Action::ToggleLevel(Level::Info));
    assert_eq!(state.live.view.len(), 4);
    assert!(
        state
            .live
            .view
            .iter()
            .all(|&seq| state.live.ring.get(seq).unwrap().level == Level::Error)
    );
    apply(&mut state, Action::ToggleLevel(Level::Error));
    assert_eq!(state.live.view.len(), 0);
    feed(&mut state, 20, 5);
    assert_eq!(state.live.view.len(), 0);
    apply(&mut state, Action::ToggleLevel(Level::Info));
    apply(&mut state, Action::ToggleLevel(Level::Error));
    assert_eq!(state.live.view.len(), 25);
}

#[test]
fn the_service_list_filters_on_selection() {
    let mut state = state(1000);
    feed(&mut state, 0, 30);
    apply(&mut state, Action::FocusNext);
    assert_eq!(state.focus, Focus::Services);
    // Sorted by name: api, db, web.
    apply(&mut state, Action::Scroll(1));
    apply(&mut state, Action::Submit);
    assert_eq!(state.filter.services.len(), 1);
    assert!(state.filter.services.contains("db"));
    assert_eq!(state.live.view.len(), 10);
    apply(&mut state, Action::Scroll(1));
    apply(&mut state, Action::ToggleService);
    assert_eq!(state.live.view.len(), 20);
    apply(&mut state, Action::Scroll(5));
    assert_eq!(state.service_cursor, 2, "stops at the last service");
    apply(&mut state, Action::ClearServices);
    assert_eq!(state.live.view.len(), 30);
}

#[test]
fn editing_moves_by_characters() {
    let mut state = state(10);
    apply(&mut state, Action::StartSearch);
    type_text(&mut state, "héllo");
    apply(&mut state, Action::Edit(Edit::Home));
    apply(&mut state, Action::Edit(Edit::Delete));
    apply(&mut state, Action::Edit(Edit::Right));
    apply(&mut state, Action::Edit(Edit::Insert('e')));
    apply(&mut state, Action::Edit(Edit::End));
    apply(&mut state, Action::Edit(Edit::Backspace));
    let Mode::Search(input) = &state.mode else {
        panic!("not searching")
    };
    assert_eq!(input.text, "éell");
}

#[test]
fn connection_states_and_the_rate() {
    let mut state = state(10);
    apply(
        &mut state,
        Action::Net(NetEvent::Disconnected {
            reason: "refused".into(),
            retry_in: std::time::Duration::from_secs(1),
        }),
    );
    assert!(matches!(state.connection, Connection::Reconnecting { .. }));
    apply(&mut state, Action::Net(NetEvent::Connected));
    assert_eq!(state.connection, Connection::Live);

    apply(&mut state, Action::Clock(0));
    feed(&mut state, 0, 7);
    apply(&mut state, Action::Clock(1_200));
    feed(&mut state, 7, 3);
    assert_eq!(state.rates.per_second(), 7, "the last full second");
    apply(&mut state, Action::Clock(2_000));
    assert_eq!(state.rates.per_second(), 3);
    apply(&mut state, Action::Clock(10_000_000));
    assert_eq!(state.rates.buckets.len(), super::state::RATE_HISTORY);
    assert_eq!(state.rates.per_second(), 0);
}

#[test]
fn escape_closes_the_top_thing_first() {
    let mut state = state(10);
    feed(&mut state, 0, 3);
    apply(&mut state, Action::ToggleDetail);
    apply(&mut state, Action::ToggleHelp);
    apply(&mut state, Action::Cancel);
    assert!(!state.help && state.detail);
    apply(&mut state, Action::Cancel);
    assert!(!state.detail);
    apply(&mut state, Action::Quit);
    assert!(state.quit);
}
