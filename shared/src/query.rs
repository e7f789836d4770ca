//! The query language shared by the API's `q=`, `lsctl` and `lstui`.
//!
//! ```text
//! service:api,web level>=warn "connection refused" -healthcheck user_id=42
//! ```
//! Clauses are separated by spaces and all must match:
//! - `word` or `"a phrase"`: case-insensitive substring of the message;
//! - `service:a,b`, `host:…`, `trace:…`, `span:…`, `id:…`: the field is one of the values;
//! - `level:error,warn`, `level=error`, `level>=warn` (also `>`, `<`, `<=`);
//! - `key=value`: the attribute `key` equals `value`;
//! - a leading `-` negates a clause: `-healthcheck`, `-service:db`.
//!
//! Quoted strings take `\"` and `\\` escapes. [`parse`] turns text into a
//! [`Query`]; `Display` prints a query back in a form that parses to the same AST.

use std::fmt;

use crate::Level;

/// A parsed query: every clause must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub clauses: Vec<Clause>,
}

/// One filter, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub negated: bool,
    pub filter: Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Case-insensitive substring of the message.
    Text(String),
    /// The field equals one of the values.
    Field {
        field: Field,
        values: Vec<String>,
    },
    Level(LevelFilter),
    /// The attribute `key` equals `value`.
    Attribute {
        key: String,
        value: String,
    },
}

/// The record fields that `name:value` filters on (level has its own filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelFilter {
    AnyOf(Vec<Level>),
    Compare(Comparison, Level),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

const FIELD_NAMES: &str = "service, level, host, trace, span, id";

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

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Both queries' clauses, which must all match.
    pub fn and(mut self, other: Query) -> Query {
        self.clauses.extend(other.clauses);
        self
    }

    pub fn push(&mut self, filter: Filter) {
        self.clauses.push(Clause {
            negated: false,
            filter,
        });
    }
}

impl Query {
    /// Whether `record` matches, as the stores decide it (the live tail
    /// filters records in memory with this).
    pub fn matches(&self, record: &crate::LogRecord) -> bool {
        self.clauses.iter().all(|clause| clause.matches(record))
    }
}

impl Clause {
    fn matches(&self, record: &crate::LogRecord) -> bool {
        let matched = match &self.filter {
            Filter::Text(text) => record.message.to_lowercase().contains(&text.to_lowercase()),
            Filter::Field { field, values } => {
                let value = match field {
                    Field::Service => Some(&record.service),
                    Field::Host => record.host.as_ref(),
                    Field::Trace => record.trace_id.as_ref(),
                    Field::Span => record.span_id.as_ref(),
                    Field::Id => Some(&record.id),
                };
                value.is_some_and(|v| values.contains(v))
            }
            Filter::Level(LevelFilter::AnyOf(levels)) => levels.contains(&record.level),
            Filter::Level(LevelFilter::Compare(op, level)) => {
                let (a, b) = (record.level.as_u8(), level.as_u8());
                match op {
                    Comparison::Less => a < b,
                    Comparison::LessOrEqual => a <= b,
                    Comparison::Greater => a > b,
                    Comparison::GreaterOrEqual => a >= b,
                }
            }
            Filter::Attribute { key, value } => record.attributes.get(key) == Some(value),
        };
        matched != self.negated
    }
}

/// The most terms (clauses, and each further value of a `field:a,b` list)
/// one query may have: every store gets the same bound, well inside what a
/// ClickHouse server takes as one statement (`max_query_size`, 256 KiB),
/// which would otherwise answer a long query with an error of its own.
pub const MAX_QUERY_TERMS: usize = 1000;

/// Parses the query language; see the module documentation.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
    };
    let mut clauses = Vec::new();
    let mut terms = 0;
    loop {
        parser.skip_whitespace();
        if parser.at_end() {
            return Ok(Query { clauses });
        }
        let start = parser.pos;
        let clause = parser.clause()?;
        terms += match &clause.filter {
            Filter::Field { values, .. } => values.len().max(1),
            _ => 1,
        };
        if terms > MAX_QUERY_TERMS {
            return Err(parser.error_at(
                start,
                format!(
                    "the query has more than {MAX_QUERY_TERMS} terms (clauses and listed values); \
                     at most {MAX_QUERY_TERMS} are accepted"
                ),
            ));
        }
        clauses.push(clause);
        if !parser.at_end() && !parser.peek_is(char::is_whitespace) {
            return Err(parser.error_here("expected a space before the next clause"));
        }
    }
}

impl std::str::FromStr for Query {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_is(&self, f: impl Fn(char) -> bool) -> bool {
        self.peek().is_some_and(f)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            column: pos + 1,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> QueryError {
        self.error_at(self.pos, message)
    }

    fn skip_whitespace(&mut self) {
        while self.peek_is(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek_is(&f) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn clause(&mut self) -> Result<Clause, QueryError> {
        let negated = self.peek() == Some('-')
            && self
                .chars
                .get(self.pos + 1)
                .is_some_and(|c| !c.is_whitespace());
        if negated {
            self.pos += 1;
        }
        Ok(Clause {
            negated,
            filter: self.filter()?,
        })
    }

    fn filter(&mut self) -> Result<Filter, QueryError> {
        if self.peek() == Some('"') {
            let start = self.pos;
            let phrase = self.quoted()?;
            if phrase.is_empty() {
                return Err(self.error_at(
                    start,
                    "empty phrase \"\"; put the text to search for between the quotes",
                ));
            }
            return Ok(Filter::Text(phrase));
        }
        let start = self.pos;
        let name = self.take_while(is_identifier_char);
        let is_level = name.eq_ignore_ascii_case("level");
        match self.peek() {
            Some(':') if !name.is_empty() => {
                let after_colon = self.chars.get(self.pos + 1).copied();
                if after_colon.is_none_or(char::is_whitespace) {
                    if is_level || Field::from_name(&name).is_some() {
                        return Err(self.error_at(
                            self.pos + 1,
                            format!("expected a value after \"{name}:\""),
                        ));
                    }
                    // "error:" at the end of a word is just text.
                    self.pos = start;
                    return Ok(Filter::Text(self.word()));
                }
                self.pos += 1;
                if is_level {
                    let levels = self
                        .value_list()?
                        .into_iter()
                        .map(|(pos, v)| self.level(pos, &v))
                        .collect::<Result<_, _>>()?;
                    return Ok(Filter::Level(LevelFilter::AnyOf(levels)));
                }
                let Some(field) = Field::from_name(&name) else {
                    return Err(self.error_at(
                        start,
                        format!(
                            "unknown field \"{name}\"; fields are {FIELD_NAMES} (for attributes write key=value; \
                             to search for the text, quote it: \"{name}:…\")"
                        ),
                    ));
                };
                let values = self.value_list()?.into_iter().map(|(_, v)| v).collect();
                Ok(Filter::Field { field, values })
            }
            Some('<' | '>') if is_level => {
                let comparison = self.comparison();
                let (pos, value) = self.single_value(&format!("level{}", comparison.symbol()))?;
                Ok(Filter::Level(LevelFilter::Compare(
                    comparison,
                    self.level(pos, &value)?,
                )))
            }
            Some('=') if !name.is_empty() && !name.starts_with('-') => {
                self.pos += 1;
                let (pos, value) = self.single_value(&format!("{name}="))?;
                if is_level {
                    Ok(Filter::Level(LevelFilter::AnyOf(vec![
                        self.level(pos, &value)?,
                    ])))
                } else if let Some(field) = Field::from_name(&name) {
                    Ok(Filter::Field {
                        field,
                        values: vec![value],
                    })
                } else {
                    Ok(Filter::Attribute { key: name, value })
                }
            }
            _ => {
                self.pos = start;
                Ok(Filter::Text(self.word()))
            }
        }
    }

    fn comparison(&mut self) -> Comparison {
        let greater = self.peek() == Some('>');
        self.pos += 1;
        let or_equal = self.peek() == Some('=');
        if or_equal {
            self.pos += 1;
        }
        match (greater, or_equal) {
            (true, true) => Comparison::GreaterOrEqual,
            (true, false) => Comparison::Greater,
            (false, true) => Comparison::LessOrEqual,
            (false, false) => Comparison::Less,
        }
    }

    fn level(&self, pos: usize, value: &str) -> Result<Level, QueryError> {
        value
            .parse()
            .map_err(|e: crate::level::UnknownLevel| self.error_at(pos, e.to_string()))
    }

    /// A bare word: everything up to the next space.
    fn word(&mut self) -> String {
        self.take_while(|c| !c.is_whitespace())
    }

    /// `"…"` with `\"` and `\\` escapes; the cursor is on the opening quote.
    fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "unterminated quote; add a closing \"")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') if matches!(self.chars.get(self.pos + 1), Some('"' | '\\')) => {
                    out.push(self.chars[self.pos + 1]);
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// One value after `key=` or `level>=`: quoted, or bare up to a space.
    fn single_value(&mut self, after: &str) -> Result<(usize, String), QueryError> {
        let pos = self.pos;
        if self.peek() == Some('"') {
            return Ok((pos, self.quoted()?));
        }
        let value = self.word();
        if value.is_empty() {
            return Err(self.error_at(
                pos,
                format!("expected a value after \"{after}\" (write \"\" for an empty value)"),
            ));
        }
        Ok((pos, value))
    }

    /// Comma-separated values after `field:`, each quoted or bare.
    fn value_list(&mut self) -> Result<Vec<(usize, String)>, QueryError> {
        let mut values = Vec::new();
        loop {
            let pos = self.pos;
            let value = if self.peek() == Some('"') {
                self.quoted()?
            } else {
                self.take_while(|c| !c.is_whitespace() && c != ',')
            };
            if value.is_empty() {
                return Err(self.error_at(
                    pos,
                    "expected a value; separate values with commas and no spaces: service:api,web",
                ));
            }
            values.push((pos, value));
            if self.peek() != Some(',') {
                return Ok(values);
            }
            self.pos += 1;
        }
    }
}

/// Whether `text` prints without quotes and parses back as itself.
fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
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

fn write_list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    item: impl Fn(&T) -> String,
) -> fmt::Result {
    let joined: Vec<String> = items.iter().map(item).collect();
    f.write_str(&joined.join(","))
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{clause}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("-")?;
        }
        match &self.filter {
            Filter::Text(text) => write!(f, "{}", Quoted(text)),
            Filter::Field { field, values } => {
                write!(f, "{}:", field.name())?;
                write_list(f, values, |v| Quoted(v).to_string())
            }
            Filter::Level(LevelFilter::AnyOf(levels)) => {
                f.write_str("level:")?;
                write_list(f, levels, |l| l.as_str().to_ascii_lowercase())
            }
            Filter::Level(LevelFilter::Compare(op, level)) => {
                write!(
                    f,
                    "level{}{}",
                    op.symbol(),
                    level.as_str().to_ascii_lowercase()
                )
            }
            Filter::Attribute { key, value } => write!(f, "{key}={}", Quoted(value)),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn queries_past_the_term_limit_are_refused_where_they_pass_it() {
        let words: Vec<String> = (0..MAX_QUERY_TERMS).map(|i| format!("w{i}")).collect();
        assert_eq!(
            parse(&words.join(" ")).unwrap().clauses.len(),
            MAX_QUERY_TERMS
        );
        let one_more = format!("{} last", words.join(" "));
        let error = parse(&one_more).unwrap_err();
        assert!(error.message.contains("at most 1000"), "{}", error.message);
        assert_eq!(error.column, one_more.len() - "last".len() + 1);
        let values: Vec<String> = (0..=MAX_QUERY_TERMS).map(|i| format!("s{i}")).collect();
        let error = parse(&format!("service:{}", values.join(","))).unwrap_err();
        assert_eq!(error.column, 1);
        assert!(parse(&format!("k=v {}", "x=y ".repeat(998))).is_ok());
    }

    use super::*;
    use proptest::prelude::*;

    fn text(s: &str) -> Clause {
        Clause {
            negated: false,
            filter: Filter::Text(s.into()),
        }
    }

    #[test]
    fn parses_the_architecture_example() {
        let q =
            parse(r#"service:api,web level>=warn "connection refused" -healthcheck user_id=42"#)
                .unwrap();
        assert_eq!(
            q.clauses,
            vec![
                Clause {
                    negated: false,
                    filter: Filter::Field {
                        field: Field::Service,
                        values: vec!["api".into(), "web".into()]
                    }
                },
                Clause {
                    negated: false,
                    filter: Filter::Level(LevelFilter::Compare(
                        Comparison::GreaterOrEqual,
                        Level::Warn
                    ))
                },
                text("connection refused"),
                Clause {
                    negated: true,
                    filter: Filter::Text("healthcheck".into())
                },
                Clause {
                    negated: false,
                    filter: Filter::Attribute {
                        key: "user_id".into(),
                        value: "42".into()
                    }
                },
            ]
        );
    }

    #[test]
    fn level_forms() {
        let any = |levels: Vec<Level>| Filter::Level(LevelFilter::AnyOf(levels));
        assert_eq!(
            parse("level:ERROR,warning").unwrap().clauses[0].filter,
            any(vec![Level::Error, Level::Warn])
        );
        assert_eq!(
            parse("level=err").unwrap().clauses[0].filter,
            any(vec![Level::Error])
        );
        assert_eq!(
            parse("level<info").unwrap().clauses[0].filter,
            Filter::Level(LevelFilter::Compare(Comparison::Less, Level::Info))
        );
    }

    #[test]
    fn field_aliases_quotes_and_escapes() {
        let q = parse(r#"trace_id:"a b",c service=api "say \"hi\" C:\dir""#).unwrap();
        assert_eq!(
            q.clauses[0].filter,
            Filter::Field {
                field: Field::Trace,
                values: vec!["a b".into(), "c".into()]
            }
        );
        assert_eq!(
            q.clauses[1].filter,
            Filter::Field {
                field: Field::Service,
                values: vec!["api".into()]
            }
        );
        assert_eq!(q.clauses[2], text(r#"say "hi" C:\dir"#));
    }

    #[test]
    fn words_that_only_look_special_are_text() {
        assert_eq!(parse("error:").unwrap().clauses, vec![text("error:")]);
        assert_eq!(parse("a-b").unwrap().clauses, vec![text("a-b")]);
        assert_eq!(parse("- x").unwrap().clauses, vec![text("-"), text("x")]);
        assert_eq!(parse("x>y").unwrap().clauses, vec![text("x>y")]);
        assert!(parse("   ").unwrap().is_empty());
    }

    #[test]
    fn errors_point_at_the_column() {
        let e = parse("level>=loud").unwrap_err();
        assert_eq!(e.column, 8);
        assert!(e.message.contains("unknown level \"loud\""), "{e}");

        let e = parse(r#"service:api "unclosed"#).unwrap_err();
        assert_eq!(e.column, 13);
        assert!(e.message.contains("unterminated quote"));

        let e = parse("x sevice:api").unwrap_err();
        assert_eq!(e.column, 3);
        assert!(
            e.message.contains("unknown field \"sevice\"") && e.message.contains("service, level"),
            "{e}"
        );
        assert_eq!(e.pointer("x sevice:api"), "x sevice:api\n  ^");

        assert_eq!(parse("service:api,").unwrap_err().column, 13);
        assert_eq!(parse("service: api").unwrap_err().column, 9);
        assert_eq!(parse("k=").unwrap_err().column, 3);
        assert_eq!(parse(r#""a"b"#).unwrap_err().column, 4);
    }

    #[test]
    fn printing_quotes_what_needs_it() {
        let q = parse(r#"-"a b" service:"x,y" k="" level:warn,error level>info"#).unwrap();
        assert_eq!(
            q.to_string(),
            r#"-"a b" service:"x,y" k="" level:warn,error level>info"#
        );
    }

    fn level() -> impl Strategy<Value = Level> {
        prop::sample::select(Level::ALL.to_vec())
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let field = prop::sample::select(Field::ALL.to_vec());
        let comparison = prop::sample::select(vec![
            Comparison::Less,
            Comparison::LessOrEqual,
            Comparison::Greater,
            Comparison::GreaterOrEqual,
        ]);
        let key = "[a-z_][a-z0-9_.-]{0,8}".prop_filter("field names are not attribute keys", |k| {
            k != "level" && Field::from_name(k).is_none()
        });
        prop_oneof![
            ".{1,12}".prop_map(Filter::Text),
            (field, prop::collection::vec(".{1,8}", 1..4))
                .prop_map(|(field, values)| Filter::Field { field, values }),
            prop::collection::vec(level(), 1..4).prop_map(|l| Filter::Level(LevelFilter::AnyOf(l))),
            (comparison, level()).prop_map(|(c, l)| Filter::Level(LevelFilter::Compare(c, l))),
            (key, ".{0,8}").prop_map(|(key, value)| Filter::Attribute { key, value }),
        ]
    }

    fn query() -> impl Strategy<Value = Query> {
        prop::collection::vec((any::<bool>(), filter()), 0..6).prop_map(|clauses| Query {
            clauses: clauses
                .into_iter()
                .map(|(negated, filter)| Clause { negated, filter })
                .collect(),
        })
    }

    proptest! {
        #[test]
        fn printed_queries_parse_back_to_the_same_ast(q in query()) {
            let printed = q.to_string();
            prop_assert_eq!(parse(&printed), Ok(q), "printed as {}", printed);
        }

        #[test]
        fn arbitrary_input_never_panics(input in "\\PC{0,40}") {
            if let Err(e) = parse(&input) {
                prop_assert!(e.column >= 1 && e.column <= input.chars().count() + 1);
            }
        }

        #[test]
        fn arbitrary_query_characters_never_panic(input in "[-a-z:=<>\",. \\\\]{0,30}") {
            let _ = parse(&input);
        }
    }
}
