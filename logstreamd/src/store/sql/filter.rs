//! The filter tree, `where` and `extract` as SQL conditions and values.

use std::collections::HashMap;

use logstream_shared::Query;
use logstream_shared::query::{
    Expr, ExtractPattern, Field, Filter, LevelFilter, Name, Stage, Test,
};

use super::{Dialect, Fragment, Param, placeholders};

/// What names mean at one point of a query: `extract` stages before it
/// make their names the captured text instead of the record's attribute.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub(super) dialect: Dialect,
    /// Name → the regex that captures it.
    extracted: HashMap<String, String>,
}

impl Scope {
    fn new(dialect: Dialect) -> Scope {
        Scope {
            dialect,
            extracted: HashMap::new(),
        }
    }

    fn extract(&mut self, pattern: &ExtractPattern) {
        for (i, name) in pattern.names().into_iter().enumerate() {
            self.extracted
                .insert(name.to_string(), pattern.regex_for(i));
        }
    }

    /// What names mean after all of a query's `extract` stages (for the
    /// stages that come after them), without compiling any condition.
    pub(super) fn after_row_stages(dialect: Dialect, query: &Query) -> Scope {
        let mut scope = Scope::new(dialect);
        for stage in &query.stages {
            if let Stage::Extract(pattern) = stage {
                scope.extract(pattern);
            }
        }
        scope
    }
}

/// The conditions a query puts on records: its filter and its `where`
/// stages, each in the scope of the `extract` stages before it.
pub(super) fn conditions(dialect: Dialect, query: &Query) -> Vec<Fragment> {
    let mut scope = Scope::new(dialect);
    let mut conditions = Vec::new();
    if !query.filter.is_all() {
        conditions.push(scope.condition(&query.filter));
    }
    for stage in &query.stages {
        match stage {
            Stage::Where(filter) => conditions.push(scope.condition(filter)),
            Stage::Extract(pattern) => scope.extract(pattern),
            _ => {}
        }
    }
    conditions
}

fn column(field: Field) -> &'static str {
    match field {
        Field::Service => "service",
        Field::Host => "host",
        Field::Trace => "trace_id",
        Field::Span => "span_id",
        Field::Id => "id",
    }
}

impl Scope {
    /// A name's value: NULL where the record has none.
    pub(super) fn value(&self, name: &Name) -> Fragment {
        match name {
            Name::Time => Fragment::new("ts"),
            Name::Level => Fragment::new(self.dialect.level()),
            Name::Message => Fragment::new("message"),
            Name::Field(field) => Fragment::new(column(*field)),
            Name::Attribute(key) => self.attribute(key),
        }
    }

    fn attribute(&self, key: &str) -> Fragment {
        match self.extracted.get(key) {
            Some(regex) => self.dialect.regex_capture(regex),
            None => self.dialect.attribute(key),
        }
    }

    /// Never NULL: a missing host or attribute counts as "no match", so
    /// that a negated filter keeps such records.
    fn condition(&self, expr: &Expr) -> Fragment {
        match expr {
            Expr::And(children) if children.is_empty() => Fragment::new(self.dialect.boolean(true)),
            Expr::And(children) => self.group(children, " AND "),
            Expr::Or(children) => self.group(children, " OR "),
            Expr::Not(inner) => Fragment::new("NOT ").append(self.condition(inner)),
            Expr::Filter(filter) => {
                let holds = Fragment::call(
                    "coalesce",
                    [
                        self.filter(filter),
                        Fragment::new(self.dialect.boolean(false)),
                    ],
                );
                match self.prefilter(filter) {
                    Some(prefilter) => Fragment::new("(")
                        .append(prefilter)
                        .push(" AND ")
                        .append(holds)
                        .push(")"),
                    None => holds,
                }
            }
        }
    }

    fn group(&self, children: &[Expr], separator: &str) -> Fragment {
        let parts = children.iter().map(|c| self.condition(c));
        Fragment::new("(")
            .append(Fragment::join(parts, separator))
            .push(")")
    }

    fn filter(&self, filter: &Filter) -> Fragment {
        let dialect = self.dialect;
        match filter {
            Filter::Text(text) => dialect.message_contains(text),
            Filter::MessageRegex(pattern) => {
                dialect.regex_matches(Fragment::new("message"), dialect.pattern(pattern))
            }
            Filter::Field { field, test } => self.test(Fragment::new(column(*field)), test),
            Filter::Level(LevelFilter::AnyOf(levels)) => {
                let mut list = Fragment::new(&format!(
                    "{} IN ({})",
                    dialect.level(),
                    placeholders(levels.len())
                ));
                list.params
                    .extend(levels.iter().map(|l| Param::Int(l.as_u8().into())));
                list
            }
            Filter::Level(LevelFilter::Compare(op, level)) => {
                Fragment::new(&format!("{} {} ?", dialect.level(), op.symbol()))
                    .with(Param::Int(level.as_u8().into()))
            }
            Filter::Attribute { key, test } => self.test(self.attribute(key), test),
        }
    }

    /// A cheaper condition that every record the filter keeps meets, never
    /// NULL, to test first (see `Dialect::any_attribute_value_in`).
    fn prefilter(&self, filter: &Filter) -> Option<Fragment> {
        match filter {
            Filter::Attribute {
                key,
                test: Test::AnyOf(values),
            } if !self.extracted.contains_key(key) => self.dialect.any_attribute_value_in(values),
            _ => None,
        }
    }

    fn test(&self, value: Fragment, test: &Test) -> Fragment {
        let dialect = self.dialect;
        match test {
            Test::AnyOf(values) if values.len() == 1 => {
                value.push(" = ?").with(Param::Text(values[0].clone()))
            }
            Test::AnyOf(values) => {
                let mut list = value.push(&format!(" IN ({})", placeholders(values.len())));
                list.params.extend(values.iter().cloned().map(Param::Text));
                list
            }
            Test::NotEqual(other) => value.push(" != ?").with(Param::Text(other.clone())),
            Test::Prefix(prefix) => dialect.starts_with(value, prefix),
            Test::Present => value.push(" IS NOT NULL"),
            Test::Compare(op, number) => dialect
                .number(value)
                .push(&format!(" {} ?", op.symbol()))
                .with(Param::Float(number.value())),
            Test::Regex(pattern) => dialect.regex_matches(value, dialect.pattern(pattern)),
        }
    }
}
