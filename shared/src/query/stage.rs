//! Pipe stages: what happens to the records a filter selects.
//!
//! | stage | does |
//! |---|---|
//! | `where FILTER` | keeps the records the filter matches (it sees `extract`'s names) |
//! | `extract "user=<user> took <ms>ms"` | sets attributes from the message |
//! | `stats count(), avg(x), … by a, time(5m)` | one row per group |
//! | `top 10 path` | the most frequent values, with counts and shares |
//! | `fields time, service, attr.user_id` | a table of these columns |
//! | `sort by x desc, y` | orders the rows (or records) |
//! | `limit N` | at most N rows (or records) |
//!
//! The order is fixed: `where`/`extract` stages, then at most one of
//! `stats`, `top` or `fields`, then `sort`, then `limit`.

use super::{Expr, Name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Where(Expr),
    Extract(ExtractPattern),
    Stats {
        aggregates: Vec<Aggregate>,
        by: Vec<GroupKey>,
    },
    Top {
        limit: usize,
        by: Vec<Name>,
    },
    Fields(Vec<Name>),
    Sort(Vec<SortKey>),
    Limit(usize),
}

/// One computed column of `stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub function: Function,
    /// `None` only for `count()`.
    pub arg: Option<Name>,
    /// `as NAME`: the column's name instead of `avg(x)`.
    pub alias: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `count()`: records; `count(x)`: records where `x` is present.
    Count,
    /// Distinct present values, compared as text.
    CountDistinct,
    /// The numeric ones read values that are numbers and skip the rest.
    Sum,
    Avg,
    Min,
    Max,
    /// `p50`, `p95`, `p99`, … (1 to 99): linearly interpolated between the
    /// two nearest values, as DuckDB's `quantile_cont` and ClickHouse's
    /// `quantile` do (ClickHouse samples groups of over 8192 values).
    Percentile(u8),
}

impl Function {
    pub fn name(self) -> String {
        match self {
            Function::Count => "count".into(),
            Function::CountDistinct => "count_distinct".into(),
            Function::Sum => "sum".into(),
            Function::Avg => "avg".into(),
            Function::Min => "min".into(),
            Function::Max => "max".into(),
            Function::Percentile(p) => format!("p{p}"),
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        let function = match name.to_ascii_lowercase().as_str() {
            "count" => Function::Count,
            "count_distinct" | "count_uniq" => Function::CountDistinct,
            "sum" => Function::Sum,
            "avg" | "mean" => Function::Avg,
            "min" => Function::Min,
            "max" => Function::Max,
            "median" => Function::Percentile(50),
            other => {
                let p: u8 = other.strip_prefix('p')?.parse().ok()?;
                if !(1..=99).contains(&p) || other.len() > 3 {
                    return None;
                }
                Function::Percentile(p)
            }
        };
        Some(function)
    }

    /// Whether the result counts (an integer) rather than measures.
    fn counts(self) -> bool {
        matches!(self, Function::Count | Function::CountDistinct)
    }
}

/// The functions `stats` knows, for error messages.
pub(super) const FUNCTIONS: &str =
    "count(), count(x), count_distinct(x), sum(x), avg(x), min(x), max(x), p50(x) … p99(x)";

impl Aggregate {
    /// The column's name: the alias, or `count` for `count()`, else `avg(x)`.
    pub fn column(&self) -> String {
        if let Some(alias) = &self.alias {
            return alias.clone();
        }
        match &self.arg {
            None => self.function.name(),
            Some(arg) => format!("{}({})", self.function.name(), arg.column()),
        }
    }

    fn kind(&self) -> ColumnKind {
        if self.function.counts() {
            ColumnKind::Integer
        } else {
            ColumnKind::Float
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    Name(Name),
    /// `time(5m)`: the start of the record's bucket of this width, counted
    /// from the Unix epoch in UTC.
    Time(Step),
}

/// A bucket width, as written and in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    pub nanos: i64,
}

impl GroupKey {
    pub fn column(&self) -> String {
        match self {
            GroupKey::Name(name) => name.column(),
            GroupKey::Time(_) => "time".into(),
        }
    }

    fn kind(&self) -> ColumnKind {
        match self {
            GroupKey::Name(name) => name_kind(name),
            GroupKey::Time(_) => ColumnKind::Time,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// A column of the table, or for records a name.
    pub column: String,
    pub descending: bool,
}

/// `extract`'s pattern: literal text with `<name>` placeholders (`<_>`
/// skips text). A placeholder takes the shortest text up to the literal
/// that follows it; the last one takes the rest of the message. A record
/// whose message does not match gets none of the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractPattern {
    pub text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `None` for `<_>`.
    Capture(Option<String>),
}

impl ExtractPattern {
    /// Reads `<name>` placeholders; the error says what is wrong.
    pub fn new(text: &str) -> Result<ExtractPattern, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('>')
                .ok_or("a \"<\" without its \">\"; placeholders look like <name>")?;
            let name = &after[..close];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
            if !valid {
                return Err(format!(
                    "<{name}> is not a placeholder; names are letters, digits, _ and . (or <_> to skip text)"
                ));
            }
            if matches!(parts.last(), Some(Part::Capture(_))) {
                return Err(format!(
                    "<{name}> follows another placeholder directly; put literal text between them"
                ));
            }
            parts.push(Part::Capture((name != "_").then(|| name.to_string())));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        let pattern = ExtractPattern {
            text: text.to_string(),
            parts,
        };
        if pattern.names().is_empty() {
            return Err("the pattern names nothing to extract; write <name> where a value is, e.g. \"took <ms>ms\"".into());
        }
        Ok(pattern)
    }

    /// The attribute names this pattern sets, in order.
    pub fn names(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Capture(Some(name)) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// A regular expression (RE2 syntax) in which only the `index`th name
    /// captures: ClickHouse's `extract` returns the first group only, so
    /// every engine is given one expression per name.
    pub fn regex_for(&self, index: usize) -> String {
        let last = self.parts.len().saturating_sub(1);
        let mut named = 0;
        let mut regex = String::from("(?s)");
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(text) => regex.push_str(&regex::escape(text)),
                Part::Capture(name) => {
                    let lazy = if i == last { "" } else { "?" };
                    let captures = name.is_some() && named == index;
                    named += usize::from(name.is_some());
                    let open = if captures { "(" } else { "(?:" };
                    regex.push_str(&format!("{open}.*{lazy})"));
                }
            }
        }
        regex
    }
}

/// What a query answers with: records, or a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Records,
    Table(Vec<ColumnSpec>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: ColumnKind,
}

/// A table column's type (times are RFC 3339 text in JSON).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    String,
    Integer,
    Float,
    Time,
}

fn name_kind(name: &Name) -> ColumnKind {
    match name {
        Name::Time => ColumnKind::Time,
        _ => ColumnKind::String,
    }
}

fn spec(name: String, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec { name, kind }
}

impl super::Query {
    /// Records, unless a stage makes a table (`stats`, `top`, `fields`).
    pub fn output(&self) -> Output {
        for stage in &self.stages {
            let columns = match stage {
                Stage::Stats { aggregates, by } => by
                    .iter()
                    .map(|key| spec(key.column(), key.kind()))
                    .chain(aggregates.iter().map(|a| spec(a.column(), a.kind())))
                    .collect(),
                Stage::Top { by, .. } => by
                    .iter()
                    .map(|name| spec(name.column(), name_kind(name)))
                    .chain([
                        spec("count".into(), ColumnKind::Integer),
                        spec("share".into(), ColumnKind::Float),
                    ])
                    .collect(),
                Stage::Fields(names) => names
                    .iter()
                    .map(|name| spec(name.column(), name_kind(name)))
                    .collect(),
                _ => continue,
            };
            return Output::Table(columns);
        }
        Output::Records
    }

    /// Whether the query needs a finished set of records (the live tail
    /// cannot run it): any stage but `where` and `extract`.
    pub fn needs_finished_set(&self) -> bool {
        self.stages
            .iter()
            .any(|s| !matches!(s, Stage::Where(_) | Stage::Extract(_)))
    }

    /// The `sort` stage's keys, if any.
    pub fn sort_keys(&self) -> &[SortKey] {
        self.stages
            .iter()
            .find_map(|s| match s {
                Stage::Sort(keys) => Some(keys.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// The `limit` stage's count, if any.
    pub fn limit(&self) -> Option<usize> {
        self.stages.iter().find_map(|s| match s {
            Stage::Limit(n) => Some(*n),
            _ => None,
        })
    }
}
