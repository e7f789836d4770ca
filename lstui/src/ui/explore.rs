//! The panes of exploring what is stored (history mode and tables): the
//! timeline of the range, the facets, a record's context, and the table of
//! a table query. Drawn from the state alone, like the rest of the screen.

use chrono::DateTime;
use logstream_shared::query::ColumnKind;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};

use super::draw::{
    RowFormat, clean, cut, draw_bar, format_time, short_count, side_block, thousands,
};
use super::layout::Areas;
use super::theme;
use crate::app::context::{ContextAnswer, ContextView};
use crate::app::facets::{clause, has_clause};
use crate::app::state::{Focus, State};
use crate::app::table::TableView;
use crate::app::timeline::Status;

/// History's facets: each field's top values with their counts; a dot
/// marks the values in the filter.
pub(super) fn draw_facets(state: &State, frame: &mut Frame, areas: &Areas) {
    let title = if state.facets.loading {
        " facets … "
    } else {
        " facets "
    };
    frame.render_widget(side_block(state, title), areas.services_block);
    let area = areas.services;
    let rows = usize::from(area.height);
    let facets = &state.facets;
    let status = match &facets.sections {
        None => Some(("loading…".to_string(), theme::DIM)),
        Some(Err(reason)) => Some((clean(reason).into_owned(), theme::ERROR)),
        Some(Ok(_)) if facets.is_empty() => Some(("no records".to_string(), theme::DIM)),
        Some(Ok(_)) => None,
    };
    if let Some((text, style)) = status {
        let paragraph = Paragraph::new(Span::styled(text, style)).wrap(Wrap { trim: true });
        frame.render_widget(paragraph, area);
        return;
    }
    let focused = state.focus == Focus::Services;
    let name_width = usize::from(area.width).saturating_sub(8);
    let mut lines = Vec::new();
    let mut cursor_line = 0;
    let mut field_shown = "";
    for (i, (field, value, count)) in facets.entries().enumerate() {
        if field != field_shown {
            lines.push(Line::styled(field.to_string(), theme::TITLE));
            field_shown = field;
        }
        let chosen = match field {
            "service" => state.filter.services.contains(value),
            _ => has_clause(&state.filter.text, &clause(field, value)),
        };
        let mut style = Style::new();
        if focused && i == facets.cursor {
            style = style.add_modifier(Modifier::REVERSED);
            cursor_line = lines.len();
        }
        let mark = if chosen { "●" } else { " " };
        let value = cut(&clean(value), name_width).into_owned();
        let line = format!("{mark}{value:<name_width$} {:>6}", short_count(count));
        lines.push(Line::styled(line, style));
    }
    let offset = cursor_line.saturating_sub(rows.saturating_sub(1));
    let shown: Vec<Line> = lines.into_iter().skip(offset).take(rows).collect();
    frame.render_widget(Paragraph::new(shown), area);
}

/// History's timeline: records of the whole range per bucket by level, the
/// selected record's bucket marked.
pub(super) fn draw_timeline(state: &State, buf: &mut Buffer, block_area: Rect) {
    use ratatui::widgets::Widget;
    let area = super::layout::inner(block_area);
    let timeline = &state.timeline;
    let buckets = timeline.buckets();
    let mut title = vec![Span::styled(" timeline ", theme::TITLE)];
    match (&timeline.status, buckets) {
        (_, Some(buckets)) => {
            let total: u64 = (0..buckets.counts.len()).map(|i| buckets.total(i)).sum();
            title.push(Span::raw(format!("{} records ", thousands(total))));
        }
        (Status::Failed(reason), None) => {
            title.push(Span::styled(format!("{} ", clean(reason)), theme::ERROR))
        }
        _ => title.push(Span::styled("loading… ", theme::DIM)),
    }
    let footer = match buckets {
        Some(b) if !b.counts.is_empty() => format!(
            " {} → {}, one bar {} · [ ] busy bars, click, + - zoom ",
            format_time(
                b.start_of(b.visible(area.width).start),
                state.options.utc,
                "%m-%d %H:%M"
            ),
            format_time(
                DateTime::from_timestamp_nanos(b.until_ns),
                state.options.utc,
                "%m-%d %H:%M"
            ),
            humantime::format_duration(std::time::Duration::from_nanos(b.step_ns.unsigned_abs())),
        ),
        _ => String::new(),
    };
    Block::bordered()
        .title(Line::from(title))
        .title_bottom(Span::styled(footer, theme::DIM))
        .border_style(theme::DIM)
        .render(block_area, buf);
    let Some(buckets) = buckets else {
        return;
    };
    let shown = buckets.visible(area.width);
    let peak = shown.clone().map(|i| buckets.total(i)).max().unwrap_or(0);
    let x_of = |index: usize| area.x + u16::try_from(index - shown.start).unwrap_or(0);
    for index in shown.clone() {
        draw_bar(buf, area, x_of(index), &buckets.counts[index], peak);
    }
    let marked = state
        .selected_record()
        .and_then(|r| buckets.index_of(r.timestamp));
    // The selected record's bar is white, with a line up to the top.
    if let Some(index) = marked.filter(|i| shown.contains(i)) {
        let x = x_of(index);
        for y in area.y..area.y + area.height {
            let cell = &mut buf[(x, y)];
            if cell.symbol() != "█" {
                cell.set_symbol("│");
            }
            cell.set_fg(Color::White);
        }
    }
}

/// The filter bar's table, as the daemon computed it: numbers to the right.
pub(super) fn draw_table(table: &TableView, frame: &mut Frame, areas: &Areas) {
    let title = Line::from(vec![
        Span::styled(" table ", theme::TITLE),
        Span::raw(format!("{} ", clean(&table.query))),
        Span::styled("— Esc back to the records ", theme::DIM),
    ]);
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme::DIM)
        .title(title);
    frame.render_widget(block, areas.logs_block);
    let page = match &table.answer {
        Some(Ok(page)) => page,
        other => {
            let text = match other {
                Some(Err(reason)) => Span::styled(clean(reason).into_owned(), theme::ERROR),
                _ => Span::styled("computing…", theme::DIM),
            };
            frame.render_widget(Paragraph::new(text), areas.logs);
            return;
        }
    };
    let cell = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => clean(text).into_owned(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let numeric: Vec<bool> = page
        .columns
        .iter()
        .map(|c| matches!(c.kind, ColumnKind::Integer | ColumnKind::Float))
        .collect();
    let aligned = |i: usize, text: String| match numeric.get(i) {
        Some(true) => Line::from(text).alignment(Alignment::Right),
        _ => Line::from(text),
    };
    let header = Row::new(
        page.columns
            .iter()
            .enumerate()
            .map(|(i, c)| aligned(i, c.name.clone())),
    )
    .style(theme::TITLE);
    let rows = page.rows.iter().skip(table.offset).map(|row| {
        Row::new(
            row.iter()
                .enumerate()
                .map(|(i, value)| aligned(i, cell(value))),
        )
    });
    let widths: Vec<Constraint> = page
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let widest = page
                .rows
                .iter()
                .map(|r| r.get(i).map_or(0, |v| cell(v).chars().count()));
            let width = widest
                .chain([column.name.chars().count()])
                .max()
                .unwrap_or(1);
            Constraint::Length(u16::try_from(width).unwrap_or(u16::MAX))
        })
        .collect();
    let mut footer = format!("{} rows", thousands(page.rows.len() as u64));
    if page.truncated {
        footer.push_str(" (cut at the limit)");
    }
    let [body, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(areas.logs);
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(2),
        body,
    );
    frame.render_widget(Span::styled(footer, theme::DIM), status);
}

/// The record between its neighbours of the same service (and host),
/// oldest first, the record itself selected.
pub(super) fn draw_context(state: &State, context: &ContextView, frame: &mut Frame, area: Rect) {
    let block = Block::bordered()
        .title(Span::styled(
            " context: the same service and host ",
            theme::TITLE,
        ))
        .title_bottom(Span::styled(" x or Esc closes ", theme::DIM))
        .border_style(theme::DIM);
    let inner = super::layout::inner(area);
    frame.render_widget(block, area);
    let Some((rows, at)) = context.rows() else {
        let text = match &context.status {
            Some(ContextAnswer {
                result: Err(reason),
                ..
            }) => Span::styled(clean(reason).into_owned(), theme::ERROR),
            _ => Span::styled("loading…", theme::DIM),
        };
        frame.render_widget(Paragraph::new(text), inner);
        return;
    };
    let format = RowFormat::new(state, inner.width);
    // The record in the middle, as far as the neighbours allow.
    let height = usize::from(inner.height);
    let first = at
        .saturating_sub(height / 2)
        .min(rows.len().saturating_sub(height));
    for (y, (index, record)) in rows.iter().enumerate().skip(first).take(height).enumerate() {
        let Some(mut line) = format.lines(record, None).into_iter().next() else {
            continue;
        };
        if index == at {
            line = line.patch_style(theme::SELECTED);
        }
        let y = inner.y + u16::try_from(y).unwrap_or(u16::MAX);
        frame.render_widget(line, Rect::new(inner.x, y, inner.width, 1));
    }
}
