//! Jumps: to the next error or warning (in view, else past the window
//! through the daemon) and to a typed time.

use chrono::{DateTime, Utc};
use logstream_shared::api::Direction;
use logstream_shared::{Cursor, Level, LogRecord};

use super::effect::Ask;
use super::facets::{FacetsAnswer, FacetsRequest, Section};
use super::history::{Fetch, FindAnswer, FindRequest, Seek, Severity};
use super::history_tests::{answer, selected_message, stored, take_one, take_request};
use super::state::Mode;
use super::tests::{feed, record, state};
use super::timeline::{Buckets, TimelineAnswer, TimelineRequest};
use super::{Action, Edit, Effect, State, apply};

/// The one find request `update` made since the last call (timelines and
/// facets asked for with it are dropped).
fn take_find(state: &mut State) -> FindRequest {
    take_one(state, |effect| match effect {
        Effect::Ask(Ask::Find(request)) => Some(request),
        _ => None,
    })
}

fn found(state: &mut State, request: &FindRequest, record: Option<LogRecord>) {
    let answer = FindAnswer {
        generation: request.generation,
        seek: request.seek,
        result: Ok(record),
    };
    apply(state, Action::Found(answer));
}

fn seek(severity: Severity, forward: bool) -> Action {
    Action::SeekLevel { severity, forward }
}

/// History holding the newest page of `records` (500 INFO records).
fn history_at_newest(state: &mut State) {
    apply(state, Action::ToggleHistory);
    let newest = take_request(state);
    answer(state, &newest, stored(10_000, 500), true);
}

#[test]
fn errors_are_found_in_the_live_view_without_the_daemon() {
    let mut state = state(100);
    feed(&mut state, 0, 23);
    // Following: the previous error is the newest one, record 20.
    apply(&mut state, seek(Severity::Errors, false));
    assert_eq!(selected_message(&state), "request 20 done");
    apply(&mut state, seek(Severity::Errors, false));
    assert_eq!(selected_message(&state), "request 15 done");
    apply(&mut state, seek(Severity::Errors, true));
    assert_eq!(selected_message(&state), "request 20 done");
    apply(&mut state, seek(Severity::Errors, true));
    assert_eq!(selected_message(&state), "request 20 done", "stays");
    assert!(state.notice.as_deref().unwrap().contains("no newer error"));
    apply(&mut state, seek(Severity::Warnings, false));
    assert!(
        state
            .notice
            .as_deref()
            .unwrap()
            .contains("no older warning")
    );
    assert!(state.effects.is_empty(), "the live tail asks nobody");
}

#[test]
fn an_error_outside_the_window_is_found_by_the_daemon_and_shown_in_context() {
    let mut state = state(100);
    history_at_newest(&mut state);
    // At the newest record of the range nothing newer is stored.
    apply(&mut state, seek(Severity::Errors, true));
    assert!(state.effects.is_empty());
    assert!(
        state
            .notice
            .as_deref()
            .unwrap()
            .contains("no newer error in the range")
    );

    apply(&mut state, seek(Severity::Errors, false));
    let find = take_find(&mut state);
    assert_eq!(find.params.q.as_deref(), Some("level:ERROR,FATAL"));
    assert_eq!(find.params.direction, Some(Direction::Backward));
    assert_eq!(find.params.limit, Some(1));
    let oldest_held = record(10_000, "api", Level::Info, "");
    assert_eq!(find.params.cursor, Some(Cursor::of(&oldest_held).encode()));

    let error = record(4_000, "api", Level::Error, "stored 4000");
    found(&mut state, &find, Some(error.clone()));
    assert_eq!(selected_message(&state), "stored 4000");
    // The window is new: the pages on both sides of the error come next.
    let effects = std::mem::take(&mut state.effects);
    let pages: Vec<_> = effects
        .iter()
        .map(|effect| match effect {
            Effect::Ask(Ask::Page(page)) => page.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let fetches: Vec<Fetch> = pages.iter().map(|p| p.fetch).collect();
    assert_eq!(fetches, [Fetch::Older, Fetch::Newer]);
    for page in &pages {
        assert_eq!(page.params.cursor, Some(Cursor::of(&error).encode()));
    }
    answer(&mut state, &pages[0], stored(3_500, 500), true);
    answer(&mut state, &pages[1], stored(4_001, 500), true);
    assert_eq!(selected_message(&state), "stored 4000", "still selected");
    assert_eq!(state.list().view.len(), 1001);
}

#[test]
fn a_find_answered_after_the_user_moved_on_is_dropped() {
    let mut state = state(100);
    history_at_newest(&mut state);
    apply(&mut state, seek(Severity::Warnings, false));
    let find = take_find(&mut state);
    apply(&mut state, Action::Oldest);
    let _oldest = take_request(&mut state);
    found(
        &mut state,
        &find,
        Some(record(1, "api", Level::Warn, "late")),
    );
    assert!(state.list().view.is_empty(), "the jump to the oldest holds");
}

#[test]
fn t_jumps_to_the_first_record_at_a_typed_time() {
    let mut state = state(100);
    apply(&mut state, Action::StartTimeJump);
    for c in "2026-03-14 15:00".chars() {
        apply(&mut state, Action::Edit(Edit::Insert(c)));
    }
    apply(&mut state, Action::Submit);
    assert_eq!(state.mode, Mode::Normal);
    assert!(state.history.is_some(), "a jump in time opens history");
    let find = take_find(&mut state);
    let at: DateTime<Utc> = "2026-03-14T15:00:00Z".parse().unwrap();
    assert_eq!(find.seek, Seek::Time(at));
    let cursor = Cursor {
        ts_ns: at.timestamp_nanos_opt().unwrap(),
        id: String::new(),
    };
    assert_eq!(find.params.cursor, Some(cursor.encode()));
    assert_eq!(find.params.direction, Some(Direction::Forward));

    // Nothing stored from then on: the newest records instead.
    found(&mut state, &find, None);
    assert_eq!(take_request(&mut state).fetch, Fetch::Newest);
}

#[test]
fn a_time_that_does_not_parse_keeps_the_prompt_and_says_why() {
    let mut state = state(100);
    apply(&mut state, Action::StartTimeJump);
    for c in "teatime".chars() {
        apply(&mut state, Action::Edit(Edit::Insert(c)));
    }
    apply(&mut state, Action::Submit);
    assert!(matches!(state.mode, Mode::Time(_)));
    assert!(
        state.notice.as_deref().unwrap().contains("2h ago")
            || state.notice.as_deref().unwrap().contains("15m")
    );
    assert!(state.effects.is_empty());
}

/// The timeline and facets requests among the effects, taken.
fn take_summaries(state: &mut State) -> (TimelineRequest, FacetsRequest) {
    let (mut timeline, mut facets) = (None, None);
    state.effects.retain(|effect| match effect {
        Effect::Ask(Ask::Timeline(request)) => {
            timeline = Some(request.clone());
            false
        }
        Effect::Ask(Ask::Facets(request)) => {
            facets = Some(request.clone());
            false
        }
        _ => true,
    });
    (
        timeline.expect("a timeline request"),
        facets.expect("a facets request"),
    )
}

fn hours(counts: &[u64]) -> Buckets {
    const HOUR: i64 = 3_600_000_000_000;
    let first_ns = record(0, "api", Level::Info, "").timestamp_nanos() - 2 * HOUR;
    Buckets {
        first_ns,
        step_ns: HOUR,
        counts: counts.iter().map(|&n| [0, 0, n, 0, 0, 0]).collect(),
        until_ns: first_ns + HOUR * counts.len() as i64,
    }
}

#[test]
fn the_timeline_is_asked_with_history_and_a_stale_one_is_dropped() {
    let mut state = state(100);
    apply(&mut state, Action::ToggleHistory);
    let (first, _) = take_summaries(&mut state);
    let _first_page = take_request(&mut state);
    assert_eq!(first.columns, state.timeline_columns());
    // A new filter asks again; the first answer then comes too late.
    state.mode = Mode::Filter(super::state::LineInput::new("timeout"));
    apply(&mut state, Action::Submit);
    let (second, facets) = take_summaries(&mut state);
    assert_eq!(second.query, "(timeout)");
    assert_eq!(facets.query, "(timeout)");
    let answer = |request: &TimelineRequest, counts: &[u64]| {
        Action::Timeline(TimelineAnswer {
            generation: request.generation,
            result: Ok(hours(counts)),
        })
    };
    apply(&mut state, answer(&first, &[1]));
    assert_eq!(state.timeline.buckets(), None, "stale");
    apply(&mut state, answer(&second, &[4, 0, 7, 0, 0, 9]));
    assert_eq!(state.timeline.buckets().unwrap().counts.len(), 6);

    // The selection (record 0) is in bucket 2; `]` goes to bucket 5.
    let newest = take_request(&mut state);
    answer_page(
        &mut state,
        &newest,
        vec![record(0, "api", Level::Info, "timeout r0")],
    );
    apply(&mut state, Action::TimelineStep { forward: true });
    assert_eq!(state.notice, None);
    let find = take_find(&mut state);
    assert_eq!(find.seek, Seek::Time(hours(&[]).start_of(5)));
    apply(&mut state, Action::TimelineStep { forward: false });
    let find = take_find(&mut state);
    assert_eq!(find.seek, Seek::Time(hours(&[]).start_of(0)));
}

fn answer_page(state: &mut State, request: &super::history::PageRequest, records: Vec<LogRecord>) {
    answer(state, request, records, false);
}

#[test]
fn choosing_a_facet_value_filters_and_choosing_it_again_does_not() {
    let mut state = state(100);
    apply(&mut state, Action::ToggleHistory);
    let (_, facets) = take_summaries(&mut state);
    let _first_page = take_request(&mut state);
    let sections = vec![
        Section {
            field: "service".into(),
            values: vec![("api".into(), 7)],
        },
        Section {
            field: "host".into(),
            values: vec![("node 1".into(), 5)],
        },
    ];
    let answer = FacetsAnswer {
        generation: facets.generation,
        result: Ok(sections),
    };
    apply(&mut state, Action::Facets(answer));
    apply(&mut state, Action::FocusNext);
    apply(&mut state, Action::Submit);
    assert!(state.filter.services.contains("api"));
    state.effects.clear();
    apply(&mut state, Action::Scroll(1));
    apply(&mut state, Action::ToggleService);
    assert_eq!(state.filter.text, r#"host:"node 1""#);
    // The daemon is asked again with the new filter.
    let _ = take_summaries(&mut state);
    let page = take_request(&mut state);
    assert_eq!(
        page.params.q.as_deref(),
        Some(r#"(host:"node 1") service:"api""#)
    );
    apply(&mut state, Action::ToggleService);
    assert_eq!(state.filter.text, "");
}
