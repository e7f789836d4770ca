//! What the filter bar, the level toggles and the service list keep in
//! view, and the search's needle. The query language's meaning lives in
//! `logstream_shared::Query::matches`, the same for the daemon and lstui;
//! only text clauses are matched here, by a `Needle`, because
//! `Query::matches` lowercases every message it reads: rebuilding the view
//! of 100,000 records took 28 ms with it and a few with the needle.

use std::collections::BTreeSet;

use logstream_shared::query::{Clause, Filter};
use logstream_shared::{Level, LogRecord, Query};

/// A parsed query, ready to match many records.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text {
        needle: Needle,
        negated: bool,
    },
    /// Any other clause, as a query of its own.
    Other(Query),
}

impl Matcher {
    pub fn new(query: &Query) -> Matcher {
        let parts = query
            .clauses
            .iter()
            .map(|clause| match &clause.filter {
                Filter::Text(text) => Part::Text {
                    needle: Needle::new(text),
                    negated: clause.negated,
                },
                _ => Part::Other(Query {
                    clauses: vec![Clause::clone(clause)],
                }),
            })
            .collect();
        Matcher { parts }
    }

    pub fn matches(&self, record: &LogRecord) -> bool {
        self.parts.iter().all(|part| match part {
            Part::Text { needle, negated } => needle.is_in(&record.message) != *negated,
            Part::Other(query) => query.matches(record),
        })
    }
}

/// A case-insensitive substring to look for, lowercased once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    lower: String,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        Needle {
            lower: text.to_lowercase(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Whether `haystack` contains the needle, ignoring case. ASCII text (the
    /// common case) is compared in place: lowercasing every message would
    /// allocate 50,000 times a second.
    pub fn is_in(&self, haystack: &str) -> bool {
        if haystack.is_ascii() && self.lower.is_ascii() {
            find_ascii(haystack.as_bytes(), self.lower.as_bytes(), 0).is_some()
        } else {
            haystack.to_lowercase().contains(&self.lower)
        }
    }

    /// Byte ranges of the non-overlapping matches in `haystack`, for
    /// highlighting. Empty when lowercasing would move byte offsets.
    pub fn ranges(&self, haystack: &str) -> Vec<std::ops::Range<usize>> {
        let mut ranges = Vec::new();
        if self.lower.is_empty() {
            return ranges;
        }
        let lowered;
        let hay = if haystack.is_ascii() && self.lower.is_ascii() {
            haystack
        } else {
            lowered = haystack.to_lowercase();
            if lowered.len() != haystack.len() {
                return ranges;
            }
            &lowered
        };
        let mut from = 0;
        while let Some(start) = find_ascii(hay.as_bytes(), self.lower.as_bytes(), from) {
            let end = start + self.lower.len();
            if !haystack.is_char_boundary(start) || !haystack.is_char_boundary(end) {
                break;
            }
            ranges.push(start..end);
            from = end;
        }
        ranges
    }
}

/// The first position at or after `from` where `needle` (lowercase) occurs
/// in `hay`, comparing ASCII letters without case.
fn find_ascii(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    let first = needle[0];
    let last_start = hay.len().checked_sub(needle.len())?;
    (from..=last_start).find(|&i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i..i + needle.len()]
                .iter()
                .zip(needle)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
    })
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
    pub fn accepts(&self, record: &LogRecord) -> bool {
        self.levels[usize::from(record.level.as_u8())]
            && (self.services.is_empty() || self.services.contains(&record.service))
            && self.matcher.matches(record)
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
        Matcher::new(&logstream_shared::query::parse(query).unwrap())
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
                    Matcher::new(&parsed).matches(&r),
                    parsed.matches(&r),
                    "{query:?} on {message:?}"
                );
            }
        }
    }

    #[test]
    fn ranges_find_every_match() {
        let needle = Needle::new("ab");
        assert_eq!(needle.ranges("xABxab"), vec![1..3, 4..6]);
        assert_eq!(needle.ranges("nothing"), vec![]);
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
