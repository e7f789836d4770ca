//! The whole screen, from `&State`. Only the visible rows are formatted, so a
//! frame costs the same with 100 records held or 10 million.

use std::borrow::Cow;
use std::ops::Range;

use chrono::{DateTime, Local, Utc};
use logstream_shared::{Level, LogRecord};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::explore;
use super::layout::{Areas, areas};
use super::theme;
use crate::app::filter::Needle;
use crate::app::history::{Edge, History};
use crate::app::keys::KEYS;
use crate::app::list::Position;
use crate::app::save::SaveState;
use crate::app::state::{Connection, Focus, Mode, State};

/// The service column never gets wider than this.
const SERVICE_COLUMN_MAX: usize = 16;

pub fn draw(state: &State, frame: &mut Frame) {
    let areas = areas(state);
    draw_filter(state, frame, &areas);
    draw_toggles(state, frame, areas.toggles);
    if areas.services_block.width > 0 {
        match &state.history {
            Some(_) => explore::draw_facets(state, frame, &areas),
            None => draw_services(state, frame, &areas),
        }
    }
    if areas.histogram_block.height > 0 {
        match &state.history {
            Some(_) => explore::draw_timeline(state, frame.buffer_mut(), areas.histogram_block),
            None => draw_histogram(state, frame.buffer_mut(), areas.histogram_block),
        }
    }
    match &state.table {
        Some(table) => explore::draw_table(table, frame, &areas),
        None => draw_logs(state, frame, &areas),
    }
    match (&state.context, areas.detail) {
        (Some(context), Some(area)) => explore::draw_context(state, context, frame, area),
        (None, Some(area)) => draw_detail(state, frame, area),
        _ => {}
    }
    draw_status(state, frame, areas.status);
    if state.help {
        draw_help(frame);
    }
}

fn draw_filter(state: &State, frame: &mut Frame, areas: &Areas) {
    const LABEL: &str = " filter ";
    let label = Span::styled(LABEL, theme::TITLE);
    let mut line = match &state.mode {
        Mode::Filter(input) => {
            let before = &input.text[..input.byte_cursor()];
            frame.set_cursor_position((
                areas.filter.x + width(LABEL) + width(before),
                areas.filter.y,
            ));
            Line::from(vec![label, Span::raw(clean(&input.text))])
        }
        _ if state.filter.text.is_empty() => Line::from(vec![
            label,
            Span::styled("(all records; f to filter)", theme::DIM),
        ]),
        _ => Line::from(vec![label, Span::raw(clean(&state.filter.text))]),
    };
    if let Some(query) = &state.options.tail_query {
        line.push_span(Span::styled(
            format!("   daemon query: {query}"),
            theme::DIM,
        ));
    }
    frame.render_widget(line, areas.filter);

    if let (Some(error), Some(area)) = (&state.filter_error, areas.filter_error) {
        let indent = usize::from(width(LABEL)) + error.column.saturating_sub(1);
        let text = format!(
            "{:indent$}^ column {}: {} (the filter in use is unchanged)",
            "", error.column, error.message
        );
        frame.render_widget(Span::styled(text, theme::ERROR), area);
    }
}

fn draw_toggles(state: &State, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" levels ", theme::TITLE)];
    for level in Level::ALL {
        let style = if state.filter.shows_level(level) {
            theme::level(level)
        } else {
            theme::DIM.add_modifier(Modifier::CROSSED_OUT)
        };
        spans.push(Span::styled(format!("{} ", level.as_u8() + 1), theme::DIM));
        spans.push(Span::styled(level.as_str(), style));
        spans.push(Span::raw(" "));
    }
    if !state.filter.services.is_empty() {
        let names: Vec<&str> = state.filter.services.iter().map(String::as_str).collect();
        spans.push(Span::styled("│ services ", theme::TITLE));
        spans.push(Span::raw(format!("{} ", names.join(","))));
    }
    match &state.mode {
        Mode::Search(input) | Mode::Time(input) | Mode::Save(input) => {
            let label = match state.mode {
                Mode::Time(_) => "│ jump to time ",
                Mode::Save(_) => "│ save the query's results to ",
                _ => "│ search ",
            };
            spans.push(Span::styled(label, theme::TITLE));
            let x: u16 = spans.iter().map(|s| width(&s.content)).sum();
            let before = &input.text[..input.byte_cursor()];
            frame.set_cursor_position((area.x + x + width(before), area.y));
            spans.push(Span::raw(clean(&input.text)));
        }
        _ => {
            if let Some(search) = &state.search {
                spans.push(Span::styled("│ search ", theme::TITLE));
                spans.push(Span::styled(clean(&search.text), theme::MATCH));
                spans.push(Span::styled(" (n/N)", theme::DIM));
            }
        }
    }
    frame.render_widget(Line::from(spans), area);
}

/// The side list's frame, cyan while the arrow keys move in it.
pub(super) fn side_block(state: &State, title: &'static str) -> Block<'static> {
    let focused = state.focus == Focus::Services;
    Block::bordered()
        .title(Span::styled(title, theme::TITLE))
        .title_bottom(Span::styled(" Tab, Enter ", theme::DIM))
        .border_style(if focused {
            Style::new().fg(Color::Cyan)
        } else {
            theme::DIM
        })
}

fn draw_services(state: &State, frame: &mut Frame, areas: &Areas) {
    let focused = state.focus == Focus::Services;
    frame.render_widget(side_block(state, " services "), areas.services_block);
    let area = areas.services;
    let rows = usize::from(area.height);
    if rows == 0 {
        return;
    }
    let offset = state.service_cursor.saturating_sub(rows - 1);
    let name_width = usize::from(area.width).saturating_sub(10);
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    for (i, (name, count)) in state
        .services
        .counts
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows)
    {
        let checked = state.filter.services.contains(name);
        let mark = if checked { "●" } else { " " };
        let mut style = if state.filter.services.is_empty() || checked {
            Style::new()
        } else {
            theme::DIM
        };
        if focused && i == state.service_cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let name = cut(&clean(name), name_width).into_owned();
        lines.push(Line::styled(
            format!("{mark}{name:<name_width$} {:>8}", short_count(*count)),
            style,
        ));
    }
    if state.services.other > 0 && lines.len() < rows {
        lines.push(Line::styled(
            format!(
                " {:<name_width$} {:>8}",
                "(other)",
                short_count(state.services.other)
            ),
            theme::DIM,
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// Stacked bars of records per second by level, newest on the right. The
/// current second is still filling, so the bars end at the last full one.
fn draw_histogram(state: &State, buf: &mut Buffer, block_area: Rect) {
    let buckets = &state.rates.buckets;
    let complete = buckets.len().saturating_sub(1);
    let area = super::layout::inner(block_area);
    let columns = usize::from(area.width);
    let shown: Vec<&[u32; 6]> = buckets
        .iter()
        .take(complete)
        .skip(complete.saturating_sub(columns))
        .collect();
    let total = |b: &[u32; 6]| b.iter().map(|&c| u64::from(c)).sum::<u64>();
    let peak = shown.iter().map(|b| total(b)).max().unwrap_or(0);

    let mut title = vec![
        Span::styled(" rate ", theme::TITLE),
        Span::raw(format!("{}/s ", thousands(state.rates.per_second()))),
        Span::styled(format!("peak {}/s ", thousands(peak)), theme::DIM),
    ];
    for level in Level::ALL {
        title.push(Span::styled("■", Style::new().fg(theme::bar(level))));
        title.push(Span::styled(format!("{} ", level.as_str()), theme::DIM));
    }
    use ratatui::widgets::Widget;
    Block::bordered()
        .title(Line::from(title))
        .title_bottom(Span::styled(
            format!(" last {} s, one bar a second ", shown.len()),
            theme::DIM,
        ))
        .border_style(theme::DIM)
        .render(block_area, buf);
    if peak == 0 {
        return;
    }
    let x0 = area.x + area.width - u16::try_from(shown.len()).unwrap_or(0);
    for (column, bucket) in shown.iter().enumerate() {
        let x = x0 + u16::try_from(column).unwrap_or(0);
        let counts = bucket.map(u64::from);
        draw_bar(buf, area, x, &counts, peak);
    }
}

/// One stacked bar of `counts` by level at column `x`, scaled to `peak`.
/// Most severe at the bottom, so that errors are never rounded away.
pub(super) fn draw_bar(buf: &mut Buffer, area: Rect, x: u16, counts: &[u64; 6], peak: u64) {
    let height = u64::from(area.height);
    let mut below = 0u64;
    let mut drawn = 0u64;
    for level in Level::ALL.iter().rev() {
        below += counts[usize::from(level.as_u8())];
        let top = (below * height).div_ceil(peak.max(1));
        for row in drawn..top {
            let y = area.y + area.height - 1 - u16::try_from(row).unwrap_or(0);
            buf[(x, y)].set_symbol("█").set_fg(theme::bar(*level));
        }
        drawn = drawn.max(top);
    }
}

fn draw_logs(state: &State, frame: &mut Frame, areas: &Areas) {
    let list = state.list();
    let mut title = vec![
        Span::styled(" logs ", theme::TITLE),
        Span::raw(format!("{} in view ", thousands(list.view.len() as u64))),
    ];
    match (&state.history, list.arrived_while_held()) {
        (Some(history), _) => title.push(history_title(history, state.options.utc)),
        (None, None) => title.push(Span::styled("following ", Style::new().fg(Color::Green))),
        (None, Some((matching, all))) => title.push(Span::styled(
            format!(
                "PAUSED +{} new ({} received) — Space follows ",
                thousands(matching as u64),
                thousands(all)
            ),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        )),
    }
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme::DIM)
        .title(Line::from(title));
    frame.render_widget(block, areas.logs_block);

    let area = areas.logs;
    if area.height == 0 || area.width == 0 {
        return;
    }
    let rows = usize::from(area.height);
    let format = RowFormat::new(state, area.width);
    let height_of = |index: usize| -> usize {
        if !state.wrap {
            return 1;
        }
        list.ring
            .get(list.view[index])
            .map_or(1, |r| format.message_chunks(r).len().clamp(1, rows))
    };
    // Which records fill the screen: ending at the newest when following;
    // when held, from the top row down to the selection, never past what
    // had arrived when the view was held unless the selection went there.
    let (first, end, selected) = match list.position {
        Position::Follow => {
            let end = list.view.len();
            (fill_upwards(end, rows, height_of), end, None)
        }
        Position::Held(hold) => {
            if list.view.is_empty() {
                return;
            }
            let selected = list.index_at_or_before(hold.selected);
            let limit = list.index_at_or_after(hold.since).max(selected + 1);
            let top = list.index_at_or_after(hold.top).min(selected);
            let mut used = 0;
            let mut end = top;
            while end < limit && used < rows {
                used += height_of(end);
                end += 1;
            }
            if selected >= end {
                // Wrapped rows pushed the selection off: end the screen on it.
                let end = selected + 1;
                (fill_upwards(end, rows, height_of), end, Some(selected))
            } else {
                (top, end, Some(selected))
            }
        }
    };

    let mut y = area.y;
    let bottom = area.y + area.height;
    for index in first..end {
        let Some(record) = list.ring.get(list.view[index]) else {
            continue;
        };
        for mut line in format.lines(record, state.search.as_ref().map(|s| &s.needle)) {
            if y >= bottom {
                return;
            }
            if state.marks.contains(record) {
                line = line.patch_style(theme::MARKED);
            }
            if Some(index) == selected {
                line = line.patch_style(theme::SELECTED);
            }
            let row = Rect::new(area.x, y, area.width, 1);
            let overflows = !state.wrap && line.width() > usize::from(area.width);
            frame.render_widget(line, row);
            if overflows {
                frame.buffer_mut()[(area.x + area.width - 1, y)].set_symbol("…");
            }
            y += 1;
        }
    }
}

/// "HISTORY 2026-11-25 14:00 → now", with what is being fetched.
fn history_title(history: &History, utc: bool) -> Span<'static> {
    let time = |at: Option<DateTime<Utc>>, open: &str| {
        at.map_or(open.to_string(), |at| {
            format_time(at, utc, "%Y-%m-%d %H:%M")
        })
    };
    let range = &history.range;
    let mut text = format!(
        "HISTORY {} → {} — h back to live ",
        time(range.since, "the first record"),
        time(range.until, "now")
    );
    if history.older == Edge::Loading || history.newer == Edge::Loading {
        text.push_str("· loading… ");
    }
    Span::styled(text, Style::new().fg(Color::Black).bg(Color::Cyan))
}

/// How long ago, in its two largest units: "45s ago", "5m 3s ago",
/// "2d 4h ago"; a time still to come reads "in 5s".
fn age(ago: chrono::Duration) -> String {
    let seconds = ago.num_seconds().unsigned_abs();
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut left = seconds;
    for (size, name) in units {
        if left >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{name}", left / size));
            left %= size;
        }
        if parts.len() == 2 || (!parts.is_empty() && left == 0) {
            break;
        }
    }
    let text = parts.join(" ");
    if ago < chrono::Duration::zero() {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A time in UTC or the local zone, as `--utc` chose.
pub(super) fn format_time(at: DateTime<Utc>, utc: bool, format: &str) -> String {
    if utc {
        at.format(format).to_string()
    } else {
        at.with_timezone(&Local).format(format).to_string()
    }
}

/// Whether the records on hand, or history's range, span more than a day.
fn spans_days(state: &State) -> bool {
    let day = chrono::Duration::days(1);
    let ring = &state.list().ring;
    let held = match (ring.first(), ring.last()) {
        (Some(first), Some(last)) => last.timestamp - first.timestamp > day,
        _ => false,
    };
    let range = state.history.as_ref().is_some_and(|history| {
        let range = &history.range;
        let until = range.until.unwrap_or_else(Utc::now);
        range.since.is_none_or(|since| until - since > day)
    });
    held || range
}

/// The first index such that records `first..end` fill at most `rows` rows.
fn fill_upwards(end: usize, rows: usize, height_of: impl Fn(usize) -> usize) -> usize {
    let mut first = end;
    let mut used = 0;
    while first > 0 {
        let height = height_of(first - 1);
        if used + height > rows && used > 0 {
            break;
        }
        used += height;
        first -= 1;
        if used >= rows {
            break;
        }
    }
    first
}

/// How a record becomes one row (or several when wrapping).
pub(super) struct RowFormat {
    utc: bool,
    /// Times with their date: the list spans more than a day.
    dated: bool,
    /// Times as their age ("5m ago") at this instant, when asked for.
    relative_to: Option<DateTime<Utc>>,
    wrap: bool,
    service_width: usize,
    /// Columns left for the message after time, service and level.
    message_width: usize,
}

impl RowFormat {
    pub(super) fn new(state: &State, columns: u16) -> RowFormat {
        let service_width = state.services.widest.clamp(5, SERVICE_COLUMN_MAX);
        let dated = spans_days(state);
        let relative_to = state.relative_times.then(|| state.now());
        // "[MM-DD ]HH:MM:SS.mmm " or "  2d 4h ago " + service + " " + "LEVEL "
        let time_width = match (relative_to, dated) {
            (Some(_), _) => 13,
            (None, true) => 19,
            (None, false) => 13,
        };
        let prefix = time_width + service_width + 1 + 6;
        RowFormat {
            utc: state.options.utc,
            dated,
            relative_to,
            wrap: state.wrap,
            service_width,
            message_width: usize::from(columns).saturating_sub(prefix).max(10),
        }
    }

    fn time(&self, at: DateTime<Utc>) -> String {
        if let Some(now) = self.relative_to {
            return format!("{:>12}", age(now - at));
        }
        let format = if self.dated {
            "%m-%d %H:%M:%S%.3f"
        } else {
            "%H:%M:%S%.3f"
        };
        format_time(at, self.utc, format)
    }

    /// The message as it is shown: control characters made visible, and
    /// when not wrapping, no longer than could ever fit.
    fn message<'a>(&self, record: &'a LogRecord) -> Cow<'a, str> {
        if self.wrap {
            clean_multiline(&record.message)
        } else {
            let text = floor_char_boundary(&record.message, self.message_width * 4);
            match clean(text) {
                Cow::Borrowed(_) if text.len() == record.message.len() => {
                    Cow::Borrowed(&record.message)
                }
                cleaned => Cow::Owned(cleaned.into_owned()),
            }
        }
    }

    /// Byte ranges of the message's wrapped rows.
    fn message_chunks(&self, record: &LogRecord) -> Vec<Range<usize>> {
        wrap_ranges(&self.message(record), self.message_width)
    }

    pub(super) fn lines(&self, record: &LogRecord, search: Option<&Needle>) -> Vec<Line<'static>> {
        let message = self.message(record);
        let highlights = search.map(|n| n.ranges(&message)).unwrap_or_default();
        let style = theme::message(record.level);
        let service = cut(&clean(&record.service), self.service_width).into_owned();
        let prefix = vec![
            Span::styled(self.time(record.timestamp), theme::DIM),
            Span::raw(" "),
            Span::styled(
                format!("{service:<width$}", width = self.service_width),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(" "),
            Span::styled(
                format!("{:<5}", record.level.as_str()),
                theme::level(record.level),
            ),
            Span::raw(" "),
        ];
        if !self.wrap {
            let mut spans = prefix;
            spans.extend(styled(&message, 0..message.len(), style, &highlights));
            return vec![Line::from(spans)];
        }
        let indent = " ".repeat(13 + self.service_width + 1 + 6);
        wrap_ranges(&message, self.message_width)
            .into_iter()
            .enumerate()
            .map(|(i, range)| {
                let mut spans = if i == 0 {
                    prefix.clone()
                } else {
                    vec![Span::raw(indent.clone())]
                };
                spans.extend(styled(&message, range, style, &highlights));
                Line::from(spans)
            })
            .collect()
    }
}

/// `text[range]` as spans, with the parts inside `highlights` marked.
fn styled(
    text: &str,
    range: Range<usize>,
    style: Style,
    highlights: &[Range<usize>],
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut at = range.start;
    for h in highlights {
        let (start, end) = (h.start.max(range.start), h.end.min(range.end));
        if start >= end {
            continue;
        }
        if at < start {
            spans.push(Span::styled(text[at..start].to_string(), style));
        }
        spans.push(Span::styled(text[start..end].to_string(), theme::MATCH));
        at = end;
    }
    if at < range.end {
        spans.push(Span::styled(text[at..range.end].to_string(), style));
    }
    spans
}

/// Splits `text` into rows at most `width` columns wide, breaking at
/// newlines; the newline itself is in no row.
fn wrap_ranges(text: &str, width: usize) -> Vec<Range<usize>> {
    let mut rows = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            rows.push(start..i);
            start = i + 1;
            used = 0;
            continue;
        }
        let w = c.width().unwrap_or(0);
        if used + w > width && used > 0 {
            rows.push(start..i);
            start = i;
            used = 0;
        }
        used += w;
    }
    rows.push(start..text.len());
    rows
}

fn draw_detail(state: &State, frame: &mut Frame, area: Rect) {
    let block = Block::bordered()
        .title(Span::styled(" record ", theme::TITLE))
        .title_bottom(Span::styled(" d or Esc closes ", theme::DIM))
        .border_style(theme::DIM);
    let Some(record) = state.selected_record() else {
        frame.render_widget(
            Paragraph::new(Span::styled("no record selected", theme::DIM)).block(block),
            area,
        );
        return;
    };
    let json = serde_json::to_string_pretty(record).unwrap_or_else(|e| e.to_string());
    let lines: Vec<Line> = json
        .lines()
        .map(|line| match line.split_once("\": ") {
            Some((key, value)) => Line::from(vec![
                Span::styled(format!("{key}\": "), Style::new().fg(Color::Cyan)),
                Span::raw(clean(value).into_owned()),
            ]),
            None => Line::raw(clean(line).into_owned()),
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_status(state: &State, frame: &mut Frame, area: Rect) {
    let mut spans = match &state.connection {
        Connection::Live => vec![Span::styled(" ● live ", Style::new().fg(Color::Green))],
        Connection::Connecting { attempt } => vec![Span::styled(
            format!(" ◌ connecting (attempt {attempt}) "),
            Style::new().fg(Color::Yellow),
        )],
        Connection::Reconnecting { reason, retry_in } => vec![Span::styled(
            format!(
                " ↻ reconnecting in {:.1} s: {} ",
                retry_in.as_secs_f64(),
                clean(reason)
            ),
            Style::new().fg(Color::Yellow),
        )],
        Connection::Failed(reason) => vec![Span::styled(
            format!(" ✖ stopped: {} ", clean(reason)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )],
    };
    // In history the mode comes first (the live tail's connection, which
    // goes on meanwhile, after it).
    if state.history.is_some() {
        let mode = Style::new().fg(Color::Black).bg(Color::Cyan);
        spans.insert(0, Span::styled(" HISTORY ", mode));
    }
    spans.push(Span::styled(
        format!("{} ", state.options.server),
        theme::DIM,
    ));
    spans.push(Span::raw(format!(
        "│ {}/s │ buffer {}/{} ({}%) ",
        thousands(state.rates.per_second()),
        thousands(state.live.ring.len() as u64),
        thousands(state.live.ring.capacity() as u64),
        state.live.ring.len() * 100 / state.live.ring.capacity(),
    )));
    if state.undecodable > 0 {
        spans.push(Span::styled(
            format!("│ {} unreadable ", thousands(state.undecodable)),
            theme::ERROR,
        ));
    }
    if state.wrap {
        spans.push(Span::raw("│ wrap "));
    }
    if !state.marks.is_empty() {
        spans.push(Span::raw(format!(
            "│ {} marked ",
            thousands(state.marks.len() as u64)
        )));
    }
    if let Some(save) = &state.save {
        let style = match save.state {
            SaveState::Failed(_) => theme::ERROR,
            _ => Style::new(),
        };
        spans.push(Span::styled(
            format!("│ {} ", clean(&save.describe())),
            style,
        ));
    }
    if let Some(notice) = &state.notice {
        spans.push(Span::styled(
            format!("│ {} ", clean(notice)),
            Style::new().fg(Color::Yellow),
        ));
    }
    let help = Span::styled("? help  q quit ", theme::DIM);
    let [left, right] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(width(&help.content))])
            .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::Black)),
        left,
    );
    frame.render_widget(
        Paragraph::new(help)
            .alignment(Alignment::Right)
            .style(Style::new().bg(Color::Black)),
        right,
    );
}

fn draw_help(frame: &mut Frame) {
    let screen = frame.area();
    let height = u16::try_from(KEYS.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let width = 78.min(screen.width);
    let area = Rect {
        x: screen.x + (screen.width - width) / 2,
        y: screen.y + screen.height.saturating_sub(height) / 2,
        width,
        height: height.min(screen.height),
    };
    let rows = KEYS.iter().map(|(keys, what)| {
        Row::new([
            Span::styled(*keys, Style::new().fg(Color::Cyan)),
            Span::raw(*what),
        ])
    });
    let table = Table::new(rows, [Constraint::Length(14), Constraint::Min(10)]).block(
        Block::bordered()
            .title(Span::styled(" keys ", theme::TITLE))
            .title_bottom(Span::styled(" any key closes ", theme::DIM)),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(table, area);
}

/// Control characters would move the terminal's cursor: show them instead.
pub(super) fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' => '⏎',
                '\t' => ' ',
                c if c.is_control() => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// Like `clean`, but keeps newlines for wrapping.
fn clean_multiline(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' => '\n',
                '\t' => ' ',
                c if c.is_control() => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// At most `columns` wide, with "…" when cut.
pub(super) fn cut(text: &str, columns: usize) -> Cow<'_, str> {
    if text.width() <= columns {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > columns {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

fn floor_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn width(text: &str) -> u16 {
    u16::try_from(text.width()).unwrap_or(u16::MAX)
}

/// 1234567 → "1,234,567".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count in at most 8 columns: 12,345,678 or 123.4M.
pub(super) fn short_count(n: u64) -> String {
    if n < 100_000_000 {
        thousands(n)
    } else {
        format!("{:.1}M", n as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_width_and_newlines() {
        assert_eq!(wrap_ranges("abcdef", 4), vec![0..4, 4..6]);
        assert_eq!(wrap_ranges("ab\ncd", 10), vec![0..2, 3..5]);
        assert_eq!(wrap_ranges("", 10), vec![0..0]);
        // A wide character is not split across rows.
        assert_eq!(wrap_ranges("a漢字", 3), vec![0..4, 4..7]);
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(clean("a\x1b[2Jb\tc\nd"), "a\u{fffd}[2Jb c⏎d");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn ages_read_in_their_two_largest_units() {
        let ago = |s: i64| age(chrono::Duration::seconds(s));
        assert_eq!(ago(0), "0s ago");
        assert_eq!(ago(45), "45s ago");
        assert_eq!(ago(303), "5m 3s ago");
        assert_eq!(ago(7_200), "2h ago");
        assert_eq!(ago(2 * 86_400 + 4 * 3_600 + 5), "2d 4h ago");
        assert_eq!(ago(-5), "in 5s");
    }

    #[test]
    fn numbers_read_easily() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(short_count(123_456_789), "123.5M");
        assert_eq!(cut("abcdef", 4), "abc…");
    }

    #[test]
    fn fills_from_the_bottom() {
        assert_eq!(fill_upwards(10, 3, |_| 1), 7);
        assert_eq!(fill_upwards(2, 5, |_| 1), 0);
        // A record taller than the screen still shows.
        assert_eq!(fill_upwards(10, 3, |_| 5), 9);
        assert_eq!(fill_upwards(10, 4, |_| 2), 8);
    }
}
