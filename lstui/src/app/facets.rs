//! History's facets: the most frequent services, levels, hosts and
//! attribute values of the query over the range, from the daemon. Choosing
//! a value adds it to the filter; choosing it again takes it out.

use super::history::Range;

/// Values shown per field.
pub const VALUES: usize = 8;
/// Attributes shown, the most frequent names of the matching records.
pub const ATTRIBUTES: usize = 3;
/// The record fields every facets pane shows first.
pub const FIELDS: [&str; 3] = ["service", "level", "host"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facets {
    pub generation: u64,
    /// `None` until the first answer; the last answer stays on screen
    /// while the next loads, so that the list does not flicker.
    pub sections: Option<Result<Vec<Section>, String>>,
    pub loading: bool,
    /// The highlighted value, counted over every section's values.
    pub cursor: usize,
}

/// One field's values, most frequent first. `field` is as the query
/// language names it: `service`, `host`, `attr.user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub field: String,
    pub values: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FacetsRequest {
    pub generation: u64,
    pub query: String,
    pub range: Range,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FacetsAnswer {
    pub generation: u64,
    pub result: Result<Vec<Section>, String>,
}

impl Facets {
    pub fn ask(&mut self, query: String, range: Range) -> FacetsRequest {
        self.generation += 1;
        self.loading = true;
        FacetsRequest {
            generation: self.generation,
            query,
            range,
        }
    }

    pub fn receive(&mut self, answer: FacetsAnswer) {
        if answer.generation == self.generation {
            self.sections = Some(answer.result);
            self.loading = false;
            self.cursor = self.cursor.min(self.len().saturating_sub(1));
        }
    }

    /// Every value, in order: (field, value, count).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        let sections = match &self.sections {
            Some(Ok(sections)) => sections.as_slice(),
            _ => &[],
        };
        sections.iter().flat_map(|section| {
            let field = section.field.as_str();
            section
                .values
                .iter()
                .map(move |(v, n)| (field, v.as_str(), *n))
        })
    }

    pub fn len(&self) -> usize {
        self.entries().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The longest value, in characters, for the pane's width.
    pub fn widest(&self) -> usize {
        self.entries()
            .map(|(_, v, _)| v.chars().count())
            .max()
            .unwrap_or(0)
    }

    /// The highlighted (field, value).
    pub fn selected(&self) -> Option<(String, String)> {
        let (field, value, _) = self.entries().nth(self.cursor)?;
        Some((field.to_string(), value.to_string()))
    }
}

/// The filter clause that selects `value` of `field`, as the query
/// language reads it back.
pub fn clause(field: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || "_-./@".contains(c));
    if plain {
        format!("{field}:{value}")
    } else {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{field}:\"{escaped}\"")
    }
}

/// `text` with `clause` added at the end, or taken out where it stands
/// whole (between spaces or the ends); and whether it was added.
pub fn toggle_clause(text: &str, clause: &str) -> (String, bool) {
    let padded = format!(" {} ", text.trim());
    match padded.find(&format!(" {clause} ")) {
        Some(at) => {
            let rest = format!("{}{}", &padded[..at], &padded[at + clause.len() + 1..]);
            (rest.trim().to_string(), false)
        }
        None if text.trim().is_empty() => (clause.to_string(), true),
        None => (format!("{} {clause}", text.trim()), true),
    }
}

/// Whether `text` has `clause` standing whole.
pub fn has_clause(text: &str, clause: &str) -> bool {
    format!(" {} ", text.trim()).contains(&format!(" {clause} "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_parse_back_and_toggle() {
        assert_eq!(clause("host", "node-1"), "host:node-1");
        assert_eq!(clause("attr.path", "/api x"), r#"attr.path:"/api x""#);
        for (field, value) in [("host", "a \"b\""), ("attr.k", ""), ("level", "ERROR")] {
            let text = clause(field, value);
            let query: logstream_shared::Query = text.parse().unwrap();
            assert!(query.stages.is_empty(), "{text}");
        }
        let (added, on) = toggle_clause("timeout", "host:node-1");
        assert_eq!((added.as_str(), on), ("timeout host:node-1", true));
        assert!(has_clause(&added, "host:node-1"));
        let (removed, on) = toggle_clause(&added, "host:node-1");
        assert_eq!((removed.as_str(), on), ("timeout", false));
        assert_eq!(toggle_clause("", "level:WARN").0, "level:WARN");
        let spaced = clause("attr.path", "/api x");
        let (added, _) = toggle_clause("a b", &spaced);
        assert_eq!(toggle_clause(&added, &spaced), ("a b".to_string(), false));
        assert!(!has_clause("host:node-10", "host:node-1"));
    }
}
