//! What the filter bar, the level toggles and the service list keep in
//! view. The query language's meaning lives in `logstream_shared::query`,
//! the same for the daemon and lstui; its `Matcher` lowercases the filter's
//! text once and compares ASCII messages in place (rebuilding the view of
//! 100,000 records takes a few milliseconds).

use std::collections::BTreeSet;

use logstream_shared::query::{self, QueryError};
pub use logstream_shared::query::{Matcher, Needle};
use logstream_shared::{Level, LogRecord, Query};

/// The filter bar's text as a query of filters only: pipes make tables,
/// which lstui's live view does not show.
pub fn filter_query(text: &str) -> Result<Query, QueryError> {
    let parsed = query::parse(text)?;
    if parsed.stages.is_empty() {
        return Ok(parsed);
    }
    Err(QueryError {
        column: first_pipe(text).map_or(1, |i| i + 1),
        message: "the filter bar takes filters; pipes (| stats, | top …) make tables: \
                  run them with lsctl query"
            .into(),
    })
}

/// The filter bar's text: a filter, and optionally the stages of a table
/// (`| stats`, `| top`, `| fields`), which the daemon computes. Other
/// stages leave records, which the bar's filter already shows.
pub fn bar_query(text: &str) -> Result<Query, QueryError> {
    let parsed = query::parse(text)?;
    if parsed.stages.is_empty() || matches!(parsed.output(), query::Output::Table(_)) {
        return Ok(parsed);
    }
    Err(QueryError {
        column: first_pipe(text).map_or(1, |i| i + 1),
        message: "the filter bar shows the tables of | stats, | top and | fields; \
                  other stages: run them with lsctl query"
            .into(),
    })
}

/// `text` before its first pipe (the filter), and from it (the stages).
pub fn split_stages(text: &str) -> (&str, &str) {
    match first_pipe(text) {
        Some(column) => {
            let at = text
                .char_indices()
                .nth(column)
                .map_or(text.len(), |(i, _)| i);
            (text[..at].trim_end(), &text[at..])
        }
        None => (text, ""),
    }
}

/// The column (0-based, in characters) of the first `|` outside quotes.
fn first_pipe(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.chars().enumerate() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '|' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Everything that decides whether a record is in view.
#[derive(Debug, Clone)]
pub struct ViewFilter {
    /// The filter bar's query as last parsed successfully.
    pub text: String,
    pub matcher: Matcher,
    /// Indexed by `Level::as_u8`.
    pub levels: [bool; 6],
    /// Empty: every service.
    pub services: BTreeSet<String>,
}

impl Default for ViewFilter {
    fn default() -> ViewFilter {
        ViewFilter {
            text: String::new(),
            matcher: Matcher::default(),
            levels: [true; 6],
            services: BTreeSet::new(),
        }
    }
}

impl ViewFilter {
    /// The filter bar's filter, without a table's stages.
    pub fn filter_text(&self) -> &str {
        split_stages(&self.text).0
    }

    /// The table's stages (`| stats …`), or "".
    pub fn stages(&self) -> &str {
        split_stages(&self.text).1
    }

    pub fn accepts(&self, record: &LogRecord) -> bool {
        self.levels[usize::from(record.level.as_u8())]
            && (self.services.is_empty() || self.services.contains(&record.service))
            && self.matcher.matches(record)
    }

    /// Shows only the checked services (and `name` too), or takes `name`
    /// out of them.
    pub fn toggle_service(&mut self, name: String) {
        if !self.services.remove(&name) {
            self.services.insert(name);
        }
    }

    pub fn shows_level(&self, level: Level) -> bool {
        self.levels[usize::from(level.as_u8())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(service: &str, level: Level, message: &str) -> LogRecord {
        LogRecord {
            id: "id-1".into(),
            timestamp: chrono::DateTime::UNIX_EPOCH,
            service: service.into(),
            level,
            message: message.into(),
            host: Some("h1".into()),
            trace_id: None,
            span_id: None,
            attributes: [("user_id".to_string(), "42".to_string())].into(),
        }
    }

    fn matcher(query: &str) -> Matcher {
        Matcher::new(&filter_query(query).unwrap().filter)
    }

    /// The needle must agree with the shared definition of the language.
    #[test]
    fn matcher_agrees_with_query_matches() {
        let messages = [
            "Connection REFUSED by db",
            "Überweisung FEHLGESCHLAGEN",
            "\u{212a}elvin", // the Kelvin sign lowercases to an ASCII k
            "",
        ];
        let queries = [
            "",
            "refused",
            "-refused",
            "\"connection refused\" level:info",
            "überweisung",
            "kelvin",
            "-fehl service:api",
            "user_id=42 host:h1",
            "level>warn",
        ];
        for message in messages {
            let r = record("api", Level::Info, message);
            for query in queries {
                let parsed = logstream_shared::query::parse(query).unwrap();
                assert_eq!(
                    Matcher::new(&parsed.filter).matches(&r),
                    parsed.matches(&r),
                    "{query:?} on {message:?}"
                );
            }
        }
    }

    #[test]
    fn the_filter_bar_refuses_pipes_where_they_start() {
        assert!(filter_query("a OR b").is_ok());
        let e = filter_query(r#"x "a|b" | stats count()"#).unwrap_err();
        assert_eq!(e.column, 9);
    }

    #[test]
    fn the_bar_takes_table_stages_and_splits_them_off() {
        assert!(bar_query("error | stats count() by service").is_ok());
        assert!(bar_query("error | top 5 host").is_ok());
        let e = bar_query("error | limit 5").unwrap_err();
        assert_eq!(e.column, 7);
        assert_eq!(
            split_stages(r#"x "a|b" | top 3 host"#),
            (r#"x "a|b""#, "| top 3 host")
        );
        assert_eq!(split_stages("plain"), ("plain", ""));
    }

    #[test]
    fn ranges_find_every_match() {
        let needle = Needle::new("ab");
        assert_eq!(needle.ranges("xABxab"), vec![1..3, 4..6]);
        assert!(needle.ranges("nothing").is_empty());
        assert_eq!(Needle::new("é").ranges("cafÉ é"), vec![3..5, 6..8]);
    }

    #[test]
    fn view_filter_combines_levels_services_and_query() {
        let mut filter = ViewFilter::default();
        let r = record("api", Level::Info, "hello");
        assert!(filter.accepts(&r));
        filter.levels[usize::from(Level::Info.as_u8())] = false;
        assert!(!filter.accepts(&r));
        filter.levels = [true; 6];
        filter.services.insert("web".into());
        assert!(!filter.accepts(&r));
        filter.services.insert("api".into());
        assert!(filter.accepts(&r));
        filter.matcher = matcher("HELLO user_id=42");
        assert!(filter.accepts(&r));
        filter.matcher = matcher("-hello");
        assert!(!filter.accepts(&r));
    }
}
