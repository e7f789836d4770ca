//! The query language shared by the API's `q=`, `lsctl` and `lstui`: a
//! filter, then optional pipe stages.
//!
//! ```text
//! service:api,web level>=warn "connection refused" -healthcheck user_id=42
//! (service:api OR service:web) -(level:debug "health check") status>=500
//! service:api | extract "took <ms>ms" | stats count(), p95(ms) by path, time(5m)
//! ```
//! The filter: clauses separated by spaces all match (`AND` may be written);
//! `OR` between clauses, `NOT` or a leading `-` negates, parentheses group.
//! - `word` or `"a phrase"`: case-insensitive substring of the message;
//!   `~"regex"` (or `message~"…"`): a regular expression on the message;
//! - `service:a,b`, `host:…`, `trace:…`, `span:…`, `id:…`: the field is one of
//!   the values (also `=`); `!=` differs; `~"regex"` matches;
//! - `level:error,warn`, `level=error`, `level>=warn` (also `>`, `<`, `<=`, `!=`);
//! - attributes (any other name, or `attr.NAME`): `key=value` or
//!   `key:v1,v2` equal, `key!=v` present and different, `key:*` present,
//!   `key:/api/*` starts with, `key~"regex"`, `key>=500` (also `>`, `<`, `<=`)
//!   compares numbers: a value that is not a number does not match.
//!
//! Regular expressions use the RE2 syntax that DuckDB, ClickHouse and Rust's
//! `regex` share; they are case-insensitive unless they start with `(?-i)`.
//! Stages ([`Stage`]) follow `|`. Quoted strings take `\"` and `\\` escapes.
//! [`parse`] turns text into a [`Query`]; `Display` prints a query back in a
//! form that parses to the same AST.

pub mod eval;
mod matcher;
mod needle;
mod parse;
mod print;
mod stage;

pub use eval::{Answer, Cell, Table};
pub use matcher::{Matcher, NUMBER_PATTERN, number};
pub use needle::Needle;
pub use parse::{MAX_QUERY_NESTING, MAX_QUERY_PATTERNS, MAX_QUERY_TERMS, parse};
pub use stage::{
    Aggregate, ColumnKind, ColumnSpec, ExtractPattern, Function, GroupKey, Output, SortKey, Stage,
    Step,
};

use crate::Level;

/// A parsed query: the records its filter selects, then its stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub filter: Expr,
    pub stages: Vec<Stage>,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            filter: Expr::all(),
            stages: Vec::new(),
        }
    }
}

/// A boolean tree of filters. `And` and `Or` have two or more children as
/// the parser builds them; the empty `And` matches every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Filter(Filter),
}

impl Expr {
    /// Matches every record.
    pub fn all() -> Expr {
        Expr::And(Vec::new())
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Expr::And(children) if children.is_empty())
    }

    /// Both must match; nested ANDs are flattened.
    pub fn and(self, other: Expr) -> Expr {
        let mut children = match self {
            Expr::And(children) => children,
            single => vec![single],
        };
        match other {
            Expr::And(more) => children.extend(more),
            single => children.push(single),
        }
        if children.len() == 1 {
            return children.pop().unwrap_or_else(Expr::all);
        }
        Expr::And(children)
    }

    pub fn negate(self) -> Expr {
        Expr::Not(Box::new(self))
    }

    /// Every filter in the tree, for checks that look at each one.
    pub fn filters(&self) -> Vec<&Filter> {
        let mut out = Vec::new();
        self.collect_filters(&mut out);
        out
    }

    fn collect_filters<'a>(&'a self, out: &mut Vec<&'a Filter>) {
        match self {
            Expr::And(children) | Expr::Or(children) => {
                children.iter().for_each(|c| c.collect_filters(out))
            }
            Expr::Not(inner) => inner.collect_filters(out),
            Expr::Filter(filter) => out.push(filter),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Case-insensitive substring of the message.
    Text(String),
    /// A regular expression found in the message.
    MessageRegex(Pattern),
    Field {
        field: Field,
        test: Test,
    },
    Level(LevelFilter),
    /// A test of the attribute `key` (absent attributes pass none but `!`
    /// around them: `-key:*` is "absent").
    Attribute {
        key: String,
        test: Test,
    },
}

/// What a field's or an attribute's value must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// Equals one of the values.
    AnyOf(Vec<String>),
    /// Present and different from the value.
    NotEqual(String),
    /// Present and starting with the text (`key:text*`; attributes only).
    Prefix(String),
    /// Present, with any value (`key:*`; attributes only).
    Present,
    /// A number that compares so with this one (attributes only).
    Compare(Comparison, Number),
    Regex(Pattern),
}

/// A regular expression in RE2 syntax, kept as written; valid (the parser
/// compiled it). Case-insensitive unless it starts with `(?-i)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern(pub String);

impl Pattern {
    /// The pattern as every engine (DuckDB, ClickHouse, Rust's `regex`) is
    /// given it: case-insensitive, `.` not matching a newline (ClickHouse's
    /// default is the opposite), and inside an alternation that adds nothing
    /// (`[^\s\S]` matches no character): ClickHouse 18.16 pre-filters a
    /// pattern by its literal text case-sensitively, so `(?i)^GET` misses
    /// "get", unless an alternation stops it from finding that text.
    pub fn for_engines(&self) -> String {
        format!("(?i-s)(?:{}|[^\\s\\S])", self.0)
    }

    /// As [`Pattern::for_engines`] without the alternation, for an engine
    /// without ClickHouse 18.16's pre-filter: the alternation costs RE2 its
    /// own literal pre-filter (DuckDB searches about 25% slower with it).
    pub fn unguarded(&self) -> String {
        format!("(?i-s)(?:{})", self.0)
    }
}

/// A number as written in the query (`250.5`), valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(pub String);

impl Number {
    pub fn value(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

/// The record fields that `name:value` filters on (level has its own filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Service,
    Host,
    Trace,
    Span,
    Id,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Service,
        Field::Host,
        Field::Trace,
        Field::Span,
        Field::Id,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Service => "service",
            Field::Host => "host",
            Field::Trace => "trace",
            Field::Span => "span",
            Field::Id => "id",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        match name.to_ascii_lowercase().as_str() {
            "service" => Some(Field::Service),
            "host" => Some(Field::Host),
            "trace" | "trace_id" => Some(Field::Trace),
            "span" | "span_id" => Some(Field::Span),
            "id" => Some(Field::Id),
            _ => None,
        }
    }

    /// The record's value of this field.
    pub fn of(self, record: &crate::LogRecord) -> Option<&str> {
        match self {
            Field::Service => Some(&record.service),
            Field::Host => record.host.as_deref(),
            Field::Trace => record.trace_id.as_deref(),
            Field::Span => record.span_id.as_deref(),
            Field::Id => Some(&record.id),
        }
    }
}

/// Anything a stage can name: a record field, or an attribute (which
/// `extract` may have set).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Name {
    Time,
    Level,
    Message,
    Field(Field),
    Attribute(String),
}

/// The prefix that makes a name an attribute even when it is a field's.
pub const ATTRIBUTE_PREFIX: &str = "attr.";

impl Name {
    /// `time`, `level`, `message`, a field, `attr.KEY` or any other key.
    pub fn from_text(text: &str) -> Name {
        if let Some(key) = text
            .strip_prefix(ATTRIBUTE_PREFIX)
            .filter(|k| !k.is_empty())
        {
            return Name::Attribute(key.to_string());
        }
        match text.to_ascii_lowercase().as_str() {
            "time" | "timestamp" | "ts" => Name::Time,
            "level" => Name::Level,
            "message" | "msg" => Name::Message,
            _ => match Field::from_name(text) {
                Some(field) => Name::Field(field),
                None => Name::Attribute(text.to_string()),
            },
        }
    }

    /// Whether a bare `key` would be read as another name than this attribute.
    fn needs_prefix(key: &str) -> bool {
        !matches!(Name::from_text(key), Name::Attribute(k) if k == key)
    }

    /// The column name a table gives this name.
    pub fn column(&self) -> String {
        match self {
            Name::Time => "time".into(),
            Name::Level => "level".into(),
            Name::Message => "message".into(),
            Name::Field(field) => field.name().into(),
            Name::Attribute(key) => key.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelFilter {
    AnyOf(Vec<Level>),
    Compare(Comparison, Level),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    pub const ALL: [Comparison; 4] = [
        Comparison::Less,
        Comparison::LessOrEqual,
        Comparison::Greater,
        Comparison::GreaterOrEqual,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }

    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Comparison::Less => a < b,
            Comparison::LessOrEqual => a <= b,
            Comparison::Greater => a > b,
            Comparison::GreaterOrEqual => a >= b,
        }
    }
}

/// A syntax error, with the 1-based column (in characters) where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query syntax error at column {column}: {message}")]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

impl QueryError {
    /// The query with a caret under the column, for terminals.
    pub fn pointer(&self, input: &str) -> String {
        format!("{input}\n{}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

impl Query {
    /// The query matching every record.
    pub fn all() -> Query {
        Query::default()
    }

    /// No filter and no stages.
    pub fn is_empty(&self) -> bool {
        self.filter.is_all() && self.stages.is_empty()
    }

    /// A query whose filter is `filter` and has no stages.
    pub fn filter(filter: Expr) -> Query {
        Query {
            filter,
            stages: Vec::new(),
        }
    }

    /// Both queries' filters must match; the stages are `self`'s, then `other`'s.
    pub fn and(mut self, other: Query) -> Query {
        self.filter = self.filter.and(other.filter);
        self.stages.extend(other.stages);
        self
    }

    /// Adds a filter that must match too.
    pub fn push(&mut self, filter: Filter) {
        let current = std::mem::replace(&mut self.filter, Expr::all());
        self.filter = current.and(Expr::Filter(filter));
    }

    /// Whether `record` passes the filter, as the stores decide it (the live
    /// tail filters records in memory with this). Stages are not applied:
    /// for many records, build a [`Matcher`] once instead.
    pub fn matches(&self, record: &crate::LogRecord) -> bool {
        Matcher::new(&self.filter).matches(record)
    }
}

impl std::str::FromStr for Query {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests;
