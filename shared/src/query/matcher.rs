//! The in-memory meaning of a filter: the live tail, lstui and the stores'
//! test model all match records with this, so they agree with the SQL the
//! stores run. Built once per query (regexes compiled once, text lowered
//! once), then matched against many records.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use super::{Expr, Field, Filter, LevelFilter, Needle, Pattern, Test};
use crate::{Level, LogRecord};

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Matcher {
    node: Node,
}

impl Default for Matcher {
    fn default() -> Matcher {
        Matcher::new(&Expr::all())
    }
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Text(Needle),
    MessageRegex(Regex),
    Field(Field, ValueTest),
    Levels([bool; 6]),
    Attribute(String, ValueTest),
}

#[derive(Debug, Clone)]
enum ValueTest {
    AnyOf(Vec<String>),
    NotEqual(String),
    Prefix(String),
    Present,
    Compare(super::Comparison, f64),
    Regex(Regex),
}

/// Compiles a pattern as the engines get it; the pattern alone must be
/// valid too (so that `a)|(b` cannot pass as a group).
pub(super) fn compile(pattern: &Pattern) -> Result<Regex, regex::Error> {
    let build = |text: &str| regex::RegexBuilder::new(text).size_limit(1 << 20).build();
    build(&pattern.0)?;
    build(&pattern.for_engines())
}

impl Matcher {
    pub fn new(filter: &Expr) -> Matcher {
        Matcher {
            node: Node::of(filter),
        }
    }

    pub fn matches(&self, record: &LogRecord) -> bool {
        self.node.matches(record, &record.attributes)
    }

    /// Matches with `attributes` in place of the record's own (`extract`'s
    /// names added to them).
    pub fn matches_with(&self, record: &LogRecord, attributes: &BTreeMap<String, String>) -> bool {
        self.node.matches(record, attributes)
    }
}

impl Node {
    fn of(expr: &Expr) -> Node {
        match expr {
            Expr::And(children) => Node::And(children.iter().map(Node::of).collect()),
            Expr::Or(children) => Node::Or(children.iter().map(Node::of).collect()),
            Expr::Not(inner) => Node::Not(Box::new(Node::of(inner))),
            Expr::Filter(filter) => Node::filter(filter),
        }
    }

    fn filter(filter: &Filter) -> Node {
        match filter {
            Filter::Text(text) => Node::Text(Needle::new(text)),
            Filter::MessageRegex(pattern) => Node::MessageRegex(regex(pattern)),
            Filter::Field { field, test } => Node::Field(*field, ValueTest::of(test)),
            Filter::Level(levels) => Node::Levels(Level::ALL.map(|l| level_matches(levels, l))),
            Filter::Attribute { key, test } => Node::Attribute(key.clone(), ValueTest::of(test)),
        }
    }

    fn matches(&self, record: &LogRecord, attributes: &BTreeMap<String, String>) -> bool {
        match self {
            Node::And(children) => children.iter().all(|c| c.matches(record, attributes)),
            Node::Or(children) => children.iter().any(|c| c.matches(record, attributes)),
            Node::Not(inner) => !inner.matches(record, attributes),
            Node::Text(needle) => needle.is_in(&record.message),
            Node::MessageRegex(regex) => regex.is_match(&record.message),
            Node::Field(field, test) => test.matches(field.of(record)),
            Node::Levels(levels) => levels[usize::from(record.level.as_u8())],
            Node::Attribute(key, test) => test.matches(attributes.get(key).map(String::as_str)),
        }
    }
}

/// A pattern the parser accepted compiles; one that still fails (a size
/// limit) matches nothing rather than panicking.
fn regex(pattern: &Pattern) -> Regex {
    compile(pattern).unwrap_or_else(|_| Regex::new("[^\\s\\S]").expect("a valid empty class"))
}

fn level_matches(filter: &LevelFilter, level: Level) -> bool {
    match filter {
        LevelFilter::AnyOf(levels) => levels.contains(&level),
        LevelFilter::Compare(op, bound) => op.holds(level.as_u8(), bound.as_u8()),
    }
}

impl ValueTest {
    fn of(test: &Test) -> ValueTest {
        match test {
            Test::AnyOf(values) => ValueTest::AnyOf(values.clone()),
            Test::NotEqual(value) => ValueTest::NotEqual(value.clone()),
            Test::Prefix(prefix) => ValueTest::Prefix(prefix.clone()),
            Test::Present => ValueTest::Present,
            Test::Compare(op, n) => ValueTest::Compare(*op, n.value()),
            Test::Regex(pattern) => ValueTest::Regex(regex(pattern)),
        }
    }

    fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        match self {
            ValueTest::AnyOf(values) => values.iter().any(|v| v == value),
            ValueTest::NotEqual(other) => value != other,
            ValueTest::Prefix(prefix) => value.starts_with(prefix.as_str()),
            ValueTest::Present => true,
            ValueTest::Compare(op, bound) => number(value).is_some_and(|n| op.holds(n, *bound)),
            ValueTest::Regex(regex) => regex.is_match(value),
        }
    }
}

/// The text of the numbers that numeric filters and stats read: an optional
/// minus, digits, optional decimals and exponent. Every engine parses these
/// the same way; other text (`0x1F`, `1,5`, ` 42`, `inf`) is not a number.
pub const NUMBER_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$";

/// `text` as a number, when it is one (see [`NUMBER_PATTERN`]).
pub fn number(text: &str) -> Option<f64> {
    static NUMBER: OnceLock<Regex> = OnceLock::new();
    let pattern = NUMBER.get_or_init(|| Regex::new(NUMBER_PATTERN).expect("a valid pattern"));
    pattern
        .is_match(text)
        .then(|| text.parse().ok())
        .flatten()
        .filter(|n: &f64| n.is_finite())
}
