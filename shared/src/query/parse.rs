//! Text to [`Query`]: a recursive-descent parser over characters, so that
//! errors can name the column where they are.

use super::stage::FUNCTIONS;
use super::{
    Aggregate, Comparison, Expr, ExtractPattern, Field, Filter, Function, GroupKey, LevelFilter,
    Name, Number, Output, Pattern, Query, QueryError, SortKey, Stage, Step, Test, matcher,
};
use crate::Level;
use crate::api::MAX_PAGE_SIZE;

/// The most terms (filters, and each further value of a `field:a,b` list)
/// one query may have: every store gets the same bound, well inside what a
/// ClickHouse server takes as one statement (`max_query_size`, 256 KiB),
/// which would otherwise answer a long query with an error of its own.
pub const MAX_QUERY_TERMS: usize = 1000;

/// The most regular expressions one query may have: each is compiled
/// (here, by the live tail and by the store's engine) into a program of up
/// to a megabyte, so their number bounds a query's memory.
pub const MAX_QUERY_PATTERNS: usize = 16;

/// The deepest nesting of parentheses and `NOT`s: the parser, the
/// compilers and the matcher walk the tree recursively, and a query of
/// thousands of `(` would otherwise exhaust a thread's stack.
pub const MAX_QUERY_NESTING: usize = 64;

/// The widest `time(…)` bucket: a year (the stores' bucket arithmetic
/// stays far from 64-bit overflow).
const MAX_STEP_NANOS: i64 = 366 * 86_400 * 1_000_000_000;
const STAGES: &str = "where, extract, stats, top, fields, sort, limit";

/// Parses the query language; see the module documentation.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
        depth: 0,
        nesting: 0,
        terms: 0,
        patterns: 0,
    };
    let filter = parser.expression()?;
    let mut query = Query::filter(filter);
    loop {
        parser.skip_whitespace();
        if !parser.at_pipe() {
            break;
        }
        parser.pos += 1;
        let start = parser.skip_whitespace();
        let stage = parser.stage()?;
        check_order(&query.stages, &stage).map_err(|m| parser.error_at(start, m))?;
        query.stages.push(stage);
        if let Some(Stage::Sort(keys)) = query.stages.last() {
            check_sort_keys(&query, keys).map_err(|m| parser.error_at(start, m))?;
        }
    }
    if !parser.at_end() {
        return Err(
            parser.error_here("unexpected text; a stage ends here (start the next one with \"|\")")
        );
    }
    Ok(query)
}

/// Where a stage may stand: `where`/`extract` first, then at most one of
/// `stats`/`top`/`fields`, then `sort`, then `limit`.
fn phase(stage: &Stage) -> u8 {
    match stage {
        Stage::Where(_) | Stage::Extract(_) => 0,
        Stage::Stats { .. } | Stage::Top { .. } | Stage::Fields(_) => 1,
        Stage::Sort(_) => 2,
        Stage::Limit(_) => 3,
    }
}

fn stage_name(stage: &Stage) -> &'static str {
    match stage {
        Stage::Where(_) => "where",
        Stage::Extract(_) => "extract",
        Stage::Stats { .. } => "stats",
        Stage::Top { .. } => "top",
        Stage::Fields(_) => "fields",
        Stage::Sort(_) => "sort",
        Stage::Limit(_) => "limit",
    }
}

fn check_order(before: &[Stage], stage: &Stage) -> Result<(), String> {
    let Some(previous) = before.last() else {
        return Ok(());
    };
    let (now, last) = (phase(stage), phase(previous));
    if now > last || (now == 0 && last == 0) {
        return Ok(());
    }
    Err(format!(
        "\"{}\" cannot follow \"{}\": stages go in the order where/extract, then one of \
         stats, top or fields, then sort, then limit",
        stage_name(stage),
        stage_name(previous)
    ))
}

/// A table's sort keys must be its columns; records sort by any name.
fn check_sort_keys(query: &Query, keys: &[SortKey]) -> Result<(), String> {
    let Output::Table(columns) = query.output() else {
        return Ok(());
    };
    match keys
        .iter()
        .find(|key| !columns.iter().any(|c| c.name == key.column))
    {
        None => Ok(()),
        Some(key) => {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            Err(format!(
                "cannot sort by \"{}\": the table's columns are {}",
                key.column,
                names.join(", ")
            ))
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Open parentheses: inside them a bare word ends at `)`.
    depth: usize,
    /// Groups and `NOT`s open around the current position.
    nesting: usize,
    terms: usize,
    patterns: usize,
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether `c` ends a bare word: a space, or `)` inside parentheses.
fn ends_word(c: char, depth: usize) -> bool {
    c.is_whitespace() || (depth > 0 && c == ')')
}

/// Bare attribute names start like words, so that `12:30` stays text.
fn starts_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
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

    /// Skips spaces; returns the position after them.
    fn skip_whitespace(&mut self) -> usize {
        while self.peek_is(char::is_whitespace) {
            self.pos += 1;
        }
        self.pos
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek_is(&f) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A `|` where a new clause could start begins the stages.
    fn at_pipe(&self) -> bool {
        self.peek() == Some('|')
    }

    fn at_close(&self) -> bool {
        self.depth > 0 && self.peek() == Some(')')
    }

    /// Whether the upper-case `word` stands here as a word of its own.
    fn at_keyword(&self, word: &str) -> bool {
        let n = word.chars().count();
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
            && self.peek_at(n).is_none_or(|c| {
                c.is_whitespace() || matches!(c, '(' | ',' | '|') || (c == ')' && self.depth > 0)
            })
    }

    fn count_terms(&mut self, start: usize, n: usize) -> Result<(), QueryError> {
        self.terms += n.max(1);
        if self.terms > MAX_QUERY_TERMS {
            return Err(self.error_at(
                start,
                format!(
                    "the query has more than {MAX_QUERY_TERMS} terms (clauses and listed values); \
                     at most {MAX_QUERY_TERMS} are accepted"
                ),
            ));
        }
        Ok(())
    }

    /// `a OR b OR …`, where each side is clauses that all match.
    fn expression(&mut self) -> Result<Expr, QueryError> {
        let mut alternatives = vec![self.conjunction()?];
        while self.at_keyword("OR") {
            let at = self.pos;
            self.pos += 2;
            let next = self.conjunction()?;
            if next.is_all() || alternatives.last().is_some_and(Expr::is_all) {
                return Err(self.error_at(
                    at,
                    "OR needs a filter on both sides (to search for the word, quote it: \"OR\")",
                ));
            }
            alternatives.push(next);
        }
        Ok(match alternatives.len() {
            1 => alternatives.pop().unwrap_or_else(Expr::all),
            _ => Expr::Or(alternatives),
        })
    }

    /// Clauses separated by spaces (or `AND`), up to `OR`, `)`, `|` or the end.
    fn conjunction(&mut self) -> Result<Expr, QueryError> {
        // Collected, not `Expr::and`ed: a group stays a child of its own.
        let mut clauses = Vec::new();
        let mut dangling_and = None;
        loop {
            self.skip_whitespace();
            if self.at_end() || self.at_pipe() || self.at_close() || self.at_keyword("OR") {
                break;
            }
            if self.at_keyword("AND") {
                dangling_and = Some(self.pos);
                self.pos += 3;
                continue;
            }
            dangling_and = None;
            clauses.push(self.unary()?);
            if !(self.at_end() || self.peek_is(char::is_whitespace) || self.at_close()) {
                return Err(self.error_here("expected a space before the next clause"));
            }
        }
        if let Some(at) = dangling_and {
            return Err(self.error_at(
                at,
                "AND needs a filter on both sides (to search for the word, quote it: \"AND\")",
            ));
        }
        Ok(match clauses.len() {
            1 => clauses.pop().unwrap_or_else(Expr::all),
            _ => Expr::And(clauses),
        })
    }

    /// `NOT x`, `-x`, `( … )` or a clause.
    fn unary(&mut self) -> Result<Expr, QueryError> {
        let start = self.pos;
        if self.at_keyword("NOT") {
            self.pos += 3;
            self.skip_whitespace();
            if self.at_end() || self.at_pipe() || self.at_close() {
                return Err(self.error_at(start, "NOT needs a filter after it"));
            }
            return Ok(self.nested(start, Parser::unary)?.negate());
        }
        if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| !c.is_whitespace()) {
            self.pos += 1;
            let inner = if self.peek() == Some('(') {
                self.group()?
            } else {
                self.clause()?
            };
            return Ok(inner.negate());
        }
        if self.peek() == Some('(') {
            return self.group();
        }
        self.clause()
    }

    /// `parse` one level deeper in the tree (a group's or a `NOT`'s
    /// operand, starting at `start`), refused past the deepest nesting.
    fn nested(
        &mut self,
        start: usize,
        parse: impl FnOnce(&mut Parser) -> Result<Expr, QueryError>,
    ) -> Result<Expr, QueryError> {
        if self.nesting == MAX_QUERY_NESTING {
            return Err(self.error_at(
                start,
                format!(
                    "the query nests parentheses and NOTs more than {MAX_QUERY_NESTING} deep; \
                     at most {MAX_QUERY_NESTING} are accepted"
                ),
            ));
        }
        self.nesting += 1;
        let nested = parse(self);
        self.nesting -= 1;
        nested
    }

    fn group(&mut self) -> Result<Expr, QueryError> {
        let open = self.pos;
        self.pos += 1;
        self.depth += 1;
        let inner = self.nested(open, Parser::expression)?;
        self.depth -= 1;
        if self.peek() != Some(')') {
            return Err(self.error_at(open, "this \"(\" is never closed; add a \")\""));
        }
        if inner.is_all() {
            return Err(self.error_at(open, "empty parentheses; put a filter inside them"));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn clause(&mut self) -> Result<Expr, QueryError> {
        let start = self.pos;
        let filter = self.filter()?;
        let values = match &filter {
            Filter::Field {
                test: Test::AnyOf(values),
                ..
            }
            | Filter::Attribute {
                test: Test::AnyOf(values),
                ..
            } => values.len(),
            _ => 1,
        };
        self.count_terms(start, values)?;
        Ok(Expr::Filter(filter))
    }

    fn filter(&mut self) -> Result<Filter, QueryError> {
        match self.peek() {
            Some('"') => return self.phrase(),
            Some('~') => {
                self.pos += 1;
                return Ok(Filter::MessageRegex(self.pattern("~")?));
            }
            _ => {}
        }
        let start = self.pos;
        let name = self.take_while(is_identifier_char);
        let (Some(subject), Some(op)) = (Subject::of(&name), self.operator()) else {
            return Ok(self.text_from(start));
        };
        if op == Operator::Colon && self.peek_at(1).is_none_or(char::is_whitespace) {
            // "error:" at the end of a word is just text; a field wants its value.
            return match subject {
                Subject::Attribute(_) | Subject::Message => Ok(self.text_from(start)),
                _ => {
                    Err(self.error_at(self.pos + 1, format!("expected a value after \"{name}:\"")))
                }
            };
        }
        self.pos += op.symbol().len();
        let after = format!("{name}{}", op.symbol());
        match (subject, op) {
            (Subject::Level, Operator::Compare(op)) => {
                let value = self.single_value(&after)?;
                Ok(Filter::Level(LevelFilter::Compare(
                    op,
                    self.level(value.pos, &value.text)?,
                )))
            }
            (Subject::Level, Operator::Colon | Operator::Equals) => {
                let values = match op {
                    Operator::Colon => self.value_list()?,
                    _ => vec![self.single_value(&after)?],
                };
                let levels = values
                    .into_iter()
                    .map(|v| self.level(v.pos, &v.text))
                    .collect::<Result<_, _>>()?;
                Ok(Filter::Level(LevelFilter::AnyOf(levels)))
            }
            (Subject::Level, _) => Err(self.error_at(
                start,
                "level takes : = < <= > >= (for \"not\", write -level:warn)",
            )),
            (Subject::Field(_), Operator::Compare(_)) => Err(self.error_at(
                start,
                format!(
                    "\"{name}\" compares with : = != and ~ only; numbers compare in attributes"
                ),
            )),
            (subject @ (Subject::Attribute(_) | Subject::Message), Operator::Compare(op)) => {
                let key = subject.attribute_key();
                let value = self.single_value(&after)?;
                match matcher::number(&value.text) {
                    Some(_) => Ok(Filter::Attribute {
                        key,
                        test: Test::Compare(op, Number(value.text)),
                    }),
                    // A word such as `x>y` whose right side is no number is text.
                    None => Ok(self.text_from(start)),
                }
            }
            (subject, op) => {
                let test = self.test(&subject, op, &after)?;
                Ok(subject.filter(test))
            }
        }
    }

    /// The bare word from `start`, as text to search for.
    fn text_from(&mut self, start: usize) -> Filter {
        self.pos = start;
        Filter::Text(self.word())
    }

    fn phrase(&mut self) -> Result<Filter, QueryError> {
        let start = self.pos;
        let phrase = self.quoted()?;
        if phrase.is_empty() {
            return Err(self.error_at(
                start,
                "empty phrase \"\"; put the text to search for between the quotes",
            ));
        }
        Ok(Filter::Text(phrase))
    }

    fn operator(&self) -> Option<Operator> {
        let op = match (self.peek()?, self.peek_at(1)) {
            (':', _) => Operator::Colon,
            ('=', _) => Operator::Equals,
            ('!', Some('=')) => Operator::NotEquals,
            ('~', _) => Operator::Regex,
            ('<', Some('=')) => Operator::Compare(Comparison::LessOrEqual),
            ('<', _) => Operator::Compare(Comparison::Less),
            ('>', Some('=')) => Operator::Compare(Comparison::GreaterOrEqual),
            ('>', _) => Operator::Compare(Comparison::Greater),
            _ => return None,
        };
        Some(op)
    }

    /// The value side of `:`, `=`, `!=` and `~` for fields and attributes.
    fn test(&mut self, subject: &Subject, op: Operator, after: &str) -> Result<Test, QueryError> {
        Ok(match op {
            Operator::Regex => Test::Regex(self.pattern(after)?),
            Operator::NotEquals => Test::NotEqual(self.single_value(after)?.text),
            Operator::Equals => Test::AnyOf(vec![self.single_value(after)?.text]),
            Operator::Colon => self.colon_values(subject)?,
            Operator::Compare(_) => unreachable!("comparisons are read by Parser::filter"),
        })
    }

    /// `key:a,b`, and for attributes `key:*` and `key:prefix*`.
    fn colon_values(&mut self, subject: &Subject) -> Result<Test, QueryError> {
        let start = self.pos;
        let values = self.value_list()?;
        let wildcards = matches!(subject, Subject::Attribute(_) | Subject::Message);
        let prefixes = values.iter().filter(|v| v.star).count();
        if !wildcards || prefixes == 0 {
            return Ok(Test::AnyOf(values.into_iter().map(|v| v.text).collect()));
        }
        if values.len() > 1 {
            return Err(self.error_at(
                start,
                "a value ending in * (a prefix) must be the only value; write key:a* OR key:b*",
            ));
        }
        let prefix = values
            .into_iter()
            .next()
            .map(|v| v.text)
            .unwrap_or_default();
        let quoted = self.chars[start] == '"';
        Ok(if prefix.is_empty() && !quoted {
            Test::Present
        } else {
            Test::Prefix(prefix)
        })
    }

    /// A regular expression, quoted or a bare word, checked by compiling it.
    fn pattern(&mut self, after: &str) -> Result<Pattern, QueryError> {
        let value = self.single_value(after)?;
        self.patterns += 1;
        if self.patterns > MAX_QUERY_PATTERNS {
            return Err(self.error_at(
                value.pos,
                format!(
                    "the query has more than {MAX_QUERY_PATTERNS} regular expressions; \
                     at most {MAX_QUERY_PATTERNS} are accepted"
                ),
            ));
        }
        let pattern = Pattern(value.text);
        match matcher::compile(&pattern) {
            Ok(_) => Ok(pattern),
            Err(e) => Err(self.error_at(
                value.pos,
                format!(
                    "invalid regular expression (RE2 syntax): {}",
                    first_line(&e.to_string())
                ),
            )),
        }
    }

    fn level(&self, pos: usize, value: &str) -> Result<Level, QueryError> {
        value
            .parse()
            .map_err(|e: crate::level::UnknownLevel| self.error_at(pos, e.to_string()))
    }

    /// A bare word: everything up to the next space (or `)` inside parentheses).
    fn word(&mut self) -> String {
        let depth = self.depth;
        self.take_while(|c| !ends_word(c, depth))
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
                Some('\\') if matches!(self.peek_at(1), Some('"' | '\\')) => {
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
    fn single_value(&mut self, after: &str) -> Result<Value, QueryError> {
        let pos = self.pos;
        if self.peek() == Some('"') {
            let text = self.quoted()?;
            return Ok(Value {
                pos,
                text,
                star: false,
            });
        }
        let text = self.word();
        if text.is_empty() {
            return Err(self.error_at(
                pos,
                format!("expected a value after \"{after}\" (write \"\" for an empty value)"),
            ));
        }
        Ok(Value {
            pos,
            text,
            star: false,
        })
    }

    /// Comma-separated values after `field:`, each quoted or bare; a bare
    /// `*` at the end of a value (or right after its quote) is noted.
    fn value_list(&mut self) -> Result<Vec<Value>, QueryError> {
        let mut values = Vec::new();
        let depth = self.depth;
        loop {
            let pos = self.pos;
            let quoted = self.peek() == Some('"');
            let mut text = if quoted {
                self.quoted()?
            } else {
                self.take_while(|c| !(ends_word(c, depth) || c == ','))
            };
            if text.is_empty() && !quoted && self.peek() != Some('*') {
                return Err(self.error_at(
                    pos,
                    "expected a value; separate values with commas and no spaces: service:api,web",
                ));
            }
            let star = if quoted {
                let star = self.peek() == Some('*');
                self.pos += usize::from(star);
                star
            } else {
                let star = text.ends_with('*');
                if star {
                    text.pop();
                }
                star
            };
            values.push(Value { pos, text, star });
            if self.peek() != Some(',') {
                return Ok(values);
            }
            self.pos += 1;
        }
    }

    /// One stage after `|`.
    fn stage(&mut self) -> Result<Stage, QueryError> {
        let start = self.pos;
        let word = self
            .take_while(|c| c.is_ascii_alphabetic())
            .to_ascii_lowercase();
        self.skip_whitespace();
        match word.as_str() {
            "where" | "filter" => self.where_stage(start),
            "extract" => {
                let value = self.single_value("extract")?;
                let pattern =
                    ExtractPattern::new(&value.text).map_err(|m| self.error_at(value.pos, m))?;
                Ok(Stage::Extract(pattern))
            }
            "stats" => self.stats(),
            "top" => {
                let limit = match self.peek_is(|c| c.is_ascii_digit()) {
                    true => self.count("top")?,
                    false => 10,
                };
                self.skip_whitespace();
                Ok(Stage::Top {
                    limit,
                    by: self.names("top")?,
                })
            }
            "fields" => Ok(Stage::Fields(self.names("fields")?)),
            "sort" => self.sort(),
            "limit" | "head" => Ok(Stage::Limit(self.count("limit")?)),
            "" => Err(self.error_at(start, format!("expected a stage after \"|\": {STAGES}"))),
            other => Err(self.error_at(
                start,
                format!("unknown stage \"{other}\"; stages are {STAGES}"),
            )),
        }
    }

    fn where_stage(&mut self, start: usize) -> Result<Stage, QueryError> {
        let filter = self.expression()?;
        if filter.is_all() {
            return Err(self.error_at(start, "\"where\" needs a filter after it"));
        }
        Ok(Stage::Where(filter))
    }

    /// A count from 1 to the page maximum.
    fn count(&mut self, stage: &str) -> Result<usize, QueryError> {
        let pos = self.pos;
        let digits = self.take_while(|c| c.is_ascii_digit());
        match digits.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            _ => Err(self.error_at(
                pos,
                format!("\"{stage}\" takes a number from 1 to {MAX_PAGE_SIZE}"),
            )),
        }
    }

    /// A name in a stage: a field, `time`, `level`, `message`, `attr.KEY` or a key.
    fn name(&mut self, what: &str) -> Result<(usize, String), QueryError> {
        let pos = self.pos;
        let text = self.take_while(is_identifier_char);
        if text.is_empty() {
            return Err(self.error_at(pos, format!("expected a name {what}")));
        }
        Ok((pos, text))
    }

    fn names(&mut self, stage: &str) -> Result<Vec<Name>, QueryError> {
        self.list(|p| {
            let (_, text) = p.name(&format!("after \"{stage}\" (a field or an attribute)"))?;
            Ok(Name::from_text(&text))
        })
    }

    /// Items separated by commas (spaces around them allowed).
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Parser) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        let mut items = vec![item(self)?];
        loop {
            let before = self.pos;
            self.skip_whitespace();
            if self.peek() != Some(',') {
                self.pos = before;
                return Ok(items);
            }
            self.pos += 1;
            self.skip_whitespace();
            items.push(item(self)?);
        }
    }

    fn stats(&mut self) -> Result<Stage, QueryError> {
        let aggregates = self.list(Parser::aggregate)?;
        self.skip_whitespace();
        let by = if self.at_keyword("by") {
            self.pos += 2;
            self.skip_whitespace();
            self.list(Parser::group_key)?
        } else {
            Vec::new()
        };
        Ok(Stage::Stats { aggregates, by })
    }

    /// `count()`, `avg(x)`, `p95(x) as slow`.
    fn aggregate(&mut self) -> Result<Aggregate, QueryError> {
        let start = self.pos;
        let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let function = Function::from_name(&word).ok_or_else(|| {
            self.error_at(
                start,
                format!("\"{word}\" is not a stats function; functions are {FUNCTIONS}"),
            )
        })?;
        if self.peek() != Some('(') {
            return Err(self.error_here(format!("expected \"(\" after \"{word}\"")));
        }
        self.pos += 1;
        let arg = match self.peek() {
            Some(')') if function == Function::Count => None,
            Some(')') => return Err(self.error_here(format!("\"{word}\" needs a name: {word}(x)"))),
            _ => Some(Name::from_text(&self.name("to compute over")?.1)),
        };
        if self.peek() != Some(')') {
            return Err(self.error_here("expected \")\""));
        }
        self.pos += 1;
        let alias = self.alias()?;
        Ok(Aggregate {
            function,
            arg,
            alias,
        })
    }

    fn alias(&mut self) -> Result<Option<String>, QueryError> {
        let before = self.pos;
        self.skip_whitespace();
        if !self.at_keyword("as") {
            self.pos = before;
            return Ok(None);
        }
        self.pos += 2;
        self.skip_whitespace();
        Ok(Some(self.name("after \"as\"")?.1))
    }

    /// A name, or `time(5m)`.
    fn group_key(&mut self) -> Result<GroupKey, QueryError> {
        let (pos, text) = self.name("to group by")?;
        if !text.eq_ignore_ascii_case("time") || self.peek() != Some('(') {
            return Ok(GroupKey::Name(Name::from_text(&text)));
        }
        self.pos += 1;
        let step_at = self.pos;
        let step = self.take_while(|c| c != ')');
        if self.peek() != Some(')') {
            return Err(self.error_at(pos, "expected \")\" after time(…"));
        }
        self.pos += 1;
        let nanos = humantime::parse_duration(step.trim())
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .filter(|n| (1..=MAX_STEP_NANOS).contains(n))
            .ok_or_else(|| {
                self.error_at(
                    step_at,
                    format!(
                        "\"{step}\" is not a duration from 1ns to 366d, like 30s, 5m, 1h or 1d"
                    ),
                )
            })?;
        Ok(GroupKey::Time(Step {
            text: step.trim().to_string(),
            nanos,
        }))
    }

    /// `sort by a desc, b`.
    fn sort(&mut self) -> Result<Stage, QueryError> {
        if self.at_keyword("by") {
            self.pos += 2;
            self.skip_whitespace();
        }
        let keys = self.list(|p| {
            let (_, mut column) = p.name("to sort by")?;
            if p.peek() == Some('(') {
                column.push_str(&p.take_while(|c| c != ')'));
                if p.peek() == Some(')') {
                    p.pos += 1;
                    column.push(')');
                }
            }
            let before = p.pos;
            p.skip_whitespace();
            let descending = if p.at_keyword("desc") {
                p.pos += 4;
                true
            } else if p.at_keyword("asc") {
                p.pos += 3;
                false
            } else {
                p.pos = before;
                false
            };
            Ok(SortKey { column, descending })
        })?;
        Ok(Stage::Sort(keys))
    }
}

fn first_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.last().copied().unwrap_or(text).to_string()
}

struct Value {
    pos: usize,
    text: String,
    star: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Colon,
    Equals,
    NotEquals,
    Regex,
    Compare(Comparison),
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Colon => ":",
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::Regex => "~",
            Operator::Compare(op) => op.symbol(),
        }
    }
}

/// What the name before an operator stands for in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    /// `message`, unprefixed: the message before `~`, else an attribute.
    Message,
    Level,
    Field(Field),
    Attribute(String),
}

impl Subject {
    /// `level`, a field, `attr.KEY` or a key; `None` for words that cannot
    /// name anything (`12`, `-x`).
    fn of(name: &str) -> Option<Subject> {
        if let Some(key) = name
            .strip_prefix(super::ATTRIBUTE_PREFIX)
            .filter(|k| !k.is_empty())
        {
            return Some(Subject::Attribute(key.to_string()));
        }
        if name.eq_ignore_ascii_case("level") {
            return Some(Subject::Level);
        }
        if name == "message" {
            return Some(Subject::Message);
        }
        if let Some(field) = Field::from_name(name) {
            return Some(Subject::Field(field));
        }
        starts_name(name).then(|| Subject::Attribute(name.to_string()))
    }

    fn attribute_key(&self) -> String {
        match self {
            Subject::Attribute(key) => key.clone(),
            _ => "message".into(),
        }
    }

    /// `message~"…"` is the message regex; `message=…` stays an attribute.
    fn filter(&self, test: Test) -> Filter {
        match (self, test) {
            (Subject::Field(field), test) => Filter::Field {
                field: *field,
                test,
            },
            (Subject::Message, Test::Regex(pattern)) => Filter::MessageRegex(pattern),
            (Subject::Message, test) => Filter::Attribute {
                key: "message".into(),
                test,
            },
            (Subject::Attribute(key), test) => Filter::Attribute {
                key: key.clone(),
                test,
            },
            (Subject::Level, _) => unreachable!("levels are read by Parser::filter"),
        }
    }
}
