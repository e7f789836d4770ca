//! [`Query`] back to text that parses to the same AST (lsctl sends queries
//! it builds from flags this way; the property tests check the round trip).

use std::fmt;

use super::{
    ATTRIBUTE_PREFIX, Aggregate, Expr, Filter, GroupKey, LevelFilter, Name, Query, SortKey, Stage,
    Test,
};

/// Words the parser reads as operators, which text must quote.
const KEYWORDS: [&str; 3] = ["AND", "OR", "NOT"];

/// Whether `text` prints without quotes and parses back as itself.
fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && !KEYWORDS.contains(&text)
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '#' | '+'))
}

struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_bare(self.0) {
            return f.write_str(self.0);
        }
        f.write_str("\"")?;
        for c in self.0.chars() {
            if matches!(c, '"' | '\\') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

/// An attribute key as a filter or stage writes it: bare when it reads back
/// as this attribute, else with the `attr.` prefix.
struct Key<'a>(&'a str);

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = self
            .0
            .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && !Name::needs_prefix(self.0);
        if !bare {
            f.write_str(ATTRIBUTE_PREFIX)?;
        }
        f.write_str(self.0)
    }
}

fn join<T>(f: &mut fmt::Formatter<'_>, items: &[T], separator: &str) -> fmt::Result
where
    T: fmt::Display,
{
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.filter)?;
        let mut separator = if self.filter.is_all() { "" } else { " " };
        for stage in &self.stages {
            write!(f, "{separator}| {stage}")?;
            separator = " ";
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(children) => {
                let parts: Vec<Grouped> = children.iter().map(Grouped).collect();
                join(f, &parts, " ")
            }
            Expr::Or(children) => {
                let parts: Vec<Grouped> = children.iter().map(Grouped).collect();
                join(f, &parts, " OR ")
            }
            Expr::Not(inner) => match inner.as_ref() {
                Expr::Filter(filter) => write!(f, "-{filter}"),
                other => write!(f, "-({other})"),
            },
            Expr::Filter(filter) => write!(f, "{filter}"),
        }
    }
}

/// A child of AND or OR: groups in parentheses, so nesting reads back as it was.
struct Grouped<'a>(&'a Expr);

impl fmt::Display for Grouped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Expr::And(_) | Expr::Or(_) => write!(f, "({})", self.0),
            other => write!(f, "{other}"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Text(text) => write!(f, "{}", Quoted(text)),
            Filter::MessageRegex(pattern) => write!(f, "~{}", Quoted(&pattern.0)),
            Filter::Field { field, test } => write_test(f, field.name(), test),
            Filter::Level(LevelFilter::AnyOf(levels)) => {
                let names: Vec<String> = levels
                    .iter()
                    .map(|l| l.as_str().to_ascii_lowercase())
                    .collect();
                write!(f, "level:{}", names.join(","))
            }
            Filter::Level(LevelFilter::Compare(op, level)) => {
                write!(
                    f,
                    "level{}{}",
                    op.symbol(),
                    level.as_str().to_ascii_lowercase()
                )
            }
            Filter::Attribute { key, test } => write_test(f, &Key(key).to_string(), test),
        }
    }
}

fn write_test(f: &mut fmt::Formatter<'_>, name: &str, test: &Test) -> fmt::Result {
    match test {
        Test::AnyOf(values) if values.len() == 1 => write!(f, "{name}={}", Quoted(&values[0])),
        Test::AnyOf(values) => {
            let quoted: Vec<Quoted> = values.iter().map(|v| Quoted(v)).collect();
            write!(f, "{name}:")?;
            join(f, &quoted, ",")
        }
        Test::NotEqual(value) => write!(f, "{name}!={}", Quoted(value)),
        Test::Prefix(prefix) if prefix.is_empty() => write!(f, "{name}:\"\"*"),
        Test::Prefix(prefix) => write!(f, "{name}:{}*", Quoted(prefix)),
        Test::Present => write!(f, "{name}:*"),
        Test::Compare(op, number) => write!(f, "{name}{}{}", op.symbol(), number.0),
        Test::Regex(pattern) => write!(f, "{name}~{}", Quoted(&pattern.0)),
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Attribute(key) => write!(f, "{}", Key(key)),
            other => f.write_str(&other.column()),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Where(filter) => write!(f, "where {filter}"),
            Stage::Extract(pattern) => write!(f, "extract {}", Quoted(&pattern.text)),
            Stage::Stats { aggregates, by } => {
                f.write_str("stats ")?;
                join(f, aggregates, ", ")?;
                if !by.is_empty() {
                    f.write_str(" by ")?;
                    join(f, by, ", ")?;
                }
                Ok(())
            }
            Stage::Top { limit, by } => {
                write!(f, "top {limit} ")?;
                join(f, by, ", ")
            }
            Stage::Fields(names) => {
                f.write_str("fields ")?;
                join(f, names, ", ")
            }
            Stage::Sort(keys) => {
                f.write_str("sort by ")?;
                join(f, keys, ", ")
            }
            Stage::Limit(n) => write!(f, "limit {n}"),
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.function.name())?;
        match &self.arg {
            Some(arg) => write!(f, "({arg})")?,
            None => f.write_str("()")?,
        }
        if let Some(alias) = &self.alias {
            write!(f, " as {alias}")?;
        }
        Ok(())
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupKey::Name(name) => write!(f, "{name}"),
            GroupKey::Time(step) => write!(f, "time({})", step.text),
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.column)?;
        if self.descending {
            f.write_str(" desc")?;
        }
        Ok(())
    }
}
