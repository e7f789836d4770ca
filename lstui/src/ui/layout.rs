//! Where each panel goes. `update` uses it too (a page is the log list's
//! height), so it depends only on the state, never on a frame.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::State;

/// Rows of the histogram's bars.
const HISTOGRAM_ROWS: u16 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The filter bar.
    pub filter: Rect,
    /// The parse error under the filter bar, while there is one.
    pub filter_error: Option<Rect>,
    /// Level toggles and the search.
    pub toggles: Rect,
    /// The service list's block and, inside it, its rows.
    pub services_block: Rect,
    pub services: Rect,
    /// The rate histogram's block (empty on short terminals).
    pub histogram_block: Rect,
    /// The log list's block and, inside it, its rows.
    pub logs_block: Rect,
    pub logs: Rect,
    pub detail: Option<Rect>,
    pub status: Rect,
}

pub fn areas(state: &State) -> Areas {
    let (columns, rows) = state.size;
    let screen = Rect::new(0, 0, columns, rows);
    let error_rows = u16::from(state.filter_error.is_some());
    let [filter, filter_error, toggles, middle, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(error_rows),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(screen);

    // Narrow terminals give the whole width to the logs.
    let sidebar = if columns >= 70 {
        let widest = match &state.history {
            Some(_) => state.facets.widest(),
            None => state.services.widest,
        };
        let widest = u16::try_from(widest).unwrap_or(u16::MAX);
        widest.saturating_add(12).clamp(20, 34)
    } else {
        0
    };
    let [services_block, right] =
        Layout::horizontal([Constraint::Length(sidebar), Constraint::Min(1)]).areas(middle);

    let histogram = if middle.height >= 16 {
        HISTOGRAM_ROWS + 2
    } else {
        0
    };
    let [histogram_block, logs_and_detail] =
        Layout::vertical([Constraint::Length(histogram), Constraint::Min(1)]).areas(right);
    let (logs_block, detail) = if state.detail || state.context.is_some() {
        let [logs, detail] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(logs_and_detail);
        (logs, Some(detail))
    } else {
        (logs_and_detail, None)
    };
    Areas {
        filter,
        filter_error: state.filter_error.as_ref().map(|_| filter_error),
        toggles,
        services_block,
        services: inner(services_block),
        histogram_block,
        // The log list has a title row but no side borders: every column counts.
        logs_block,
        logs: Rect {
            y: logs_block.y.saturating_add(1),
            height: logs_block.height.saturating_sub(1),
            ..logs_block
        },
        detail,
        status,
    }
}

/// Inside a block with borders all round.
pub fn inner(area: Rect) -> Rect {
    Rect {
        x: area.x.saturating_add(1),
        y: area.y.saturating_add(1),
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}
