//! Frames drawn on ratatui's `TestBackend`, compared with insta snapshots.
//! Records have fixed times and ids and times are shown in UTC, so no filter
//! is needed to make the frames repeatable.

use std::time::Duration;

use logstream_shared::Level;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::app::state::State;
use crate::app::tests::{feed, record, state};
use crate::app::{Action, Edit, NetEvent, apply};

fn render(state: &State) -> Terminal<TestBackend> {
    let (columns, rows) = state.size;
    let mut terminal = Terminal::new(TestBackend::new(columns, rows)).unwrap();
    terminal.draw(|frame| super::draw(state, frame)).unwrap();
    terminal
}

/// A connected state with three services and ten seconds of traffic.
fn busy() -> State {
    let mut state = state(1000);
    apply(&mut state, Action::Net(NetEvent::Connected));
    for second in 0..10u64 {
        apply(&mut state, Action::Clock(second * 1000));
        feed(&mut state, second * 20, 3 + second);
    }
    apply(&mut state, Action::Clock(10_000));
    let records = vec![
        record(500, "billing", Level::Warn, "card declined, retrying"),
        record(501, "billing", Level::Fatal, "ledger out of balance"),
        record(502, "auth", Level::Debug, "token refreshed\tfor user 42"),
    ];
    apply(&mut state, Action::Net(NetEvent::Records(records)));
    state
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        apply(state, Action::Edit(Edit::Insert(c)));
    }
}

#[test]
fn following_the_tail() {
    insta::assert_snapshot!(render(&busy()).backend());
}

#[test]
fn empty_and_reconnecting() {
    let mut state = state(1000);
    apply(
        &mut state,
        Action::Net(NetEvent::Disconnected {
            reason: "Connection refused (os error 111)".into(),
            retry_in: Duration::from_millis(1500),
        }),
    );
    insta::assert_snapshot!(render(&state).backend());
}

#[test]
fn filter_error_is_shown_inline() {
    let mut state = busy();
    apply(&mut state, Action::StartFilter);
    type_text(&mut state, "service:api level>=loud");
    let terminal = render(&state);
    insta::assert_snapshot!(terminal.backend());
}

/// The search finds the one "declined" record, two above the newest, and
/// holds the view on it; records that arrive then are counted, not shown.
#[test]
fn paused_with_details_and_a_search() {
    let mut state = busy();
    apply(&mut state, Action::StartSearch);
    type_text(&mut state, "declined");
    apply(&mut state, Action::Submit);
    apply(&mut state, Action::ToggleDetail);
    feed(&mut state, 1000, 5);
    assert_eq!(
        state.selected_record().unwrap().message,
        "card declined, retrying"
    );
    let terminal = render(&state);
    insta::assert_snapshot!(terminal.backend());

    // The snapshot has no colours: the hit's cells, and only those, are marked.
    let buffer = terminal.backend().buffer();
    let area = crate::ui::layout::areas(&state).logs;
    let row = (area.y..area.y + area.height)
        .find(|&y| {
            let text: String = (area.x..area.x + area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect();
            text.contains("card declined")
        })
        .expect("the hit is on screen");
    let marked: String = (area.x..area.x + area.width)
        .filter(|&x| {
            let cell = &buffer[(x, row)];
            (cell.fg, cell.bg) == (Color::Black, Color::Yellow)
        })
        .map(|x| buffer[(x, row)].symbol())
        .collect();
    assert_eq!(marked, "declined");
}

#[test]
fn services_and_levels_filtered() {
    let mut state = busy();
    apply(&mut state, Action::ToggleLevel(Level::Info));
    apply(&mut state, Action::FocusNext);
    apply(&mut state, Action::Scroll(1));
    apply(&mut state, Action::ToggleService);
    apply(&mut state, Action::Scroll(1));
    apply(&mut state, Action::ToggleService);
    insta::assert_snapshot!(render(&state).backend());
}

#[test]
fn long_lines_cut_or_wrapped() {
    let mut state = state(100);
    state.size = (60, 14);
    let long = "a very long message that goes on and on past the edge of the screen, \
                with a second line\nafter a newline";
    let records = vec![
        record(1, "api", Level::Info, "short"),
        record(2, "api", Level::Error, long),
        record(3, "api", Level::Info, "last"),
    ];
    apply(&mut state, Action::Net(NetEvent::Records(records)));
    let cut = render(&state);
    apply(&mut state, Action::ToggleWrap);
    let wrapped = render(&state);
    insta::assert_snapshot!("cut", cut.backend());
    insta::assert_snapshot!("wrapped", wrapped.backend());
}

#[test]
fn help_lists_every_key() {
    let mut state = busy();
    state.size = (100, 30);
    apply(&mut state, Action::ToggleHelp);
    insta::assert_snapshot!(render(&state).backend());
}

#[test]
fn levels_have_their_colours() {
    let terminal = render(&busy());
    let buffer = terminal.backend().buffer();
    let area = crate::ui::layout::areas(&busy()).logs;
    // The last row is the DEBUG record, the one before the FATAL one.
    let level_column = area.x + 13 + 7 + 1;
    let fatal = &buffer[(level_column, area.y + area.height - 2)];
    assert_eq!(fatal.symbol(), "F");
    assert_eq!((fatal.fg, fatal.bg), (Color::White, Color::Red));
    let debug = &buffer[(level_column, area.y + area.height - 1)];
    assert_eq!((debug.symbol(), debug.fg), ("D", Color::Blue));
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut state = busy();
    for (columns, rows) in [(1, 1), (10, 3), (30, 6), (0, 0), (200, 2)] {
        apply(&mut state, Action::Resize(columns, rows));
        for toggle in [Action::ToggleDetail, Action::ToggleHelp, Action::ToggleWrap] {
            apply(&mut state, toggle);
            render(&state);
        }
    }
}

/// History over three days: a page of stored records, the timeline and the
/// facets answered, the records of one service in the filter.
fn history() -> State {
    use crate::app::effect::{Ask, Effect};
    use crate::app::facets::{FacetsAnswer, Section};
    use crate::app::history::{PageAnswer, Range};
    use crate::app::timeline::{Buckets, TimelineAnswer};
    let mut state = busy();
    let day =
        |d: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, d, 0, 0, 0).unwrap();
    state.options.range = Range {
        since: Some(day(12)),
        until: Some(day(15)),
    };
    apply(&mut state, Action::ToggleHistory);
    let records: Vec<_> = (0..40)
        .rev()
        .map(|n| {
            let level = if n % 7 == 3 {
                Level::Error
            } else {
                Level::Info
            };
            let mut r = record(
                n * 600,
                ["api", "web"][n as usize % 2],
                level,
                &format!("stored {n}"),
            );
            r.timestamp -= chrono::Duration::hours(30);
            r
        })
        .collect();
    for effect in std::mem::take(&mut state.effects) {
        let answer = match effect {
            Effect::Ask(Ask::Page(page)) => Action::Page(PageAnswer {
                generation: page.generation,
                fetch: page.fetch,
                result: Ok((records.clone(), true)),
            }),
            Effect::Ask(Ask::Timeline(timeline)) => {
                let hour = 3_600_000_000_000i64;
                let first_ns = day(12).timestamp_nanos_opt().unwrap();
                let counts = (0..72u64)
                    .map(|h| [0, h % 5, 20 + (h * 7) % 30, h % 3, h % 2, 0])
                    .collect();
                Action::Timeline(TimelineAnswer {
                    generation: timeline.generation,
                    result: Ok(Buckets {
                        first_ns,
                        step_ns: hour,
                        counts,
                        until_ns: first_ns + 72 * hour,
                    }),
                })
            }
            Effect::Ask(Ask::Facets(facets)) => Action::Facets(FacetsAnswer {
                generation: facets.generation,
                result: Ok(vec![
                    Section {
                        field: "service".into(),
                        values: vec![("api".into(), 2_400), ("web".into(), 1_900)],
                    },
                    Section {
                        field: "level".into(),
                        values: vec![("INFO".into(), 3_700), ("ERROR".into(), 600)],
                    },
                    Section {
                        field: "attr.user_id".into(),
                        values: vec![("42".into(), 310)],
                    },
                ]),
            }),
            other => panic!("{other:?}"),
        };
        apply(&mut state, answer);
    }
    state
}

#[test]
fn history_with_its_timeline_and_facets() {
    let mut state = history();
    apply(&mut state, Action::Scroll(-3));
    apply(&mut state, Action::ToggleMark);
    apply(&mut state, Action::Scroll(1));
    insta::assert_snapshot!(render(&state).backend());
}

#[test]
fn the_context_of_a_record() {
    use crate::app::context::ContextAnswer;
    let mut state = history();
    apply(&mut state, Action::ShowContext);
    let record = state.selected_record().unwrap().clone();
    let around = |n: u64| record_at(&record, n);
    let answer = ContextAnswer {
        id: record.id.clone(),
        result: Ok((
            (1..4).map(around).collect(),
            record.clone(),
            (5..7).map(around).collect(),
        )),
    };
    apply(&mut state, Action::Context(answer));
    insta::assert_snapshot!(render(&state).backend());
}

/// A neighbour of `record`, `n` minutes from an hour before it.
fn record_at(record: &logstream_shared::LogRecord, n: u64) -> logstream_shared::LogRecord {
    let mut neighbour = crate::app::tests::record(
        900 + n,
        &record.service,
        Level::Info,
        &format!("neighbour {n}"),
    );
    neighbour.timestamp =
        record.timestamp - chrono::Duration::hours(1) + chrono::Duration::minutes(n as i64 * 15);
    neighbour
}

#[test]
fn a_table_in_place_of_the_records() {
    use crate::app::effect::{Ask, Effect};
    use crate::app::table::TableAnswer;
    let mut state = busy();
    state.mode = crate::app::state::Mode::Filter(crate::app::state::LineInput::new(
        "level>=warn | stats count(), avg(ms) by service",
    ));
    apply(&mut state, Action::Submit);
    let Some(Effect::Ask(Ask::Table(request))) = state.effects.pop() else {
        panic!("a table request");
    };
    let page = serde_json::from_value(serde_json::json!({
        "status": "success", "result": 2, "truncated": true,
        "columns": [
            {"name": "service", "type": "string"},
            {"name": "count()", "type": "integer"},
            {"name": "avg(ms)", "type": "float"}
        ],
        "rows": [["billing", 1204, 35.25], ["auth", 7, null]],
    }))
    .unwrap();
    let answer = TableAnswer {
        generation: request.generation,
        result: Ok(page),
    };
    apply(&mut state, Action::Table(answer));
    insta::assert_snapshot!(render(&state).backend());
}

#[test]
fn times_as_ages_on_request() {
    let mut state = busy();
    state.started_at =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 14, 15, 12, 0).unwrap();
    apply(&mut state, Action::ToggleRelativeTimes);
    let screen = format!("{:?}", render(&state).backend());
    // The newest record (15:11:31.500) is 38 s old at 15:12:00 plus the clock's 10 s.
    assert!(screen.contains("38s ago"), "{screen}");
    apply(&mut state, Action::ToggleRelativeTimes);
    assert!(!format!("{:?}", render(&state).backend()).contains(" ago"));
}
