//! DuckDB and ClickHouse, given the same records and the same requests, must
//! give identical answers.
//!
//! Random records (seeded) go into both stores; then a few hundred random
//! requests (filters of every kind, negated or not, free text in mixed case
//! and with LIKE's special characters, time ranges, limits, every page of
//! each search, histograms and facets) go to both, and each answer must be
//! exactly equal between the engines and to a plain-Rust model of what the
//! query language means (so that a mistake both engines share shows too).
//!
//! A failure prints the seed; `LOGSTREAM_DIFF_SEED=<seed>` replays it.

mod common;

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use logstream_shared::api::Direction;
use logstream_shared::query::{
    Aggregate, Comparison, Expr, ExtractPattern, Field, Filter, Function, GroupKey, LevelFilter,
    Name, Number, Pattern, SortKey, Stage, Step, Table, Test,
};
use logstream_shared::{Level, LogRecord, Query};
use logstream_testkit::services;
use logstreamd::store::{
    Cursor, FacetCount, FacetRequest, HistogramCount, HistogramRequest, SearchPage, SearchRequest,
    Selection, Store, TableRequest, counts,
};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use common::model::Model;
use common::{BASE_NS, DAY, SECOND, record};

/// Records in both stores.
const RECORDS: usize = 1500;
/// Random requests; each is a search (every page), and some also a
/// histogram and facets over the same selection.
const REQUESTS: usize = 300;
/// Random pipelines with `stats`, `top` or `fields`.
const TABLE_REQUESTS: usize = 200;
/// A search is paged through to its end; its limit is raised so that this
/// many pages at most cover it, which bounds the run time.
const MAX_PAGES: usize = 15;

const SERVICES: &[&str] = &["api", "API", "web", "db", "Auth", "billing-svc", "api.v2"];
const HOSTS: &[&str] = &["h1", "h2", "host-3", "Host-3", "ip-10-0-0-1"];
const TRACES: &[&str] = &["t-1", "t-2", "T-1", "4bf92f3577b34da6a3ce929d0e0e4736"];
const SPANS: &[&str] = &["s-1", "s-2", "00f067aa0ba902b7"];
const ATTRIBUTE_KEYS: &[&str] = &["user_id", "region", "status", "path", "empty", "k.v-x"];
const ATTRIBUTE_VALUES: &[&str] = &[
    "42", "7", "eu", "EU", "", "200", "x y", "/api/v1", "café", "it's", "50%_off", "-3", "250.5",
    "1e3", "0.1", "007", "1,5", " 42", "12",
];
/// Numbers that numeric filters compare with: exact in binary, so every
/// engine reads them alike.
const NUMBERS: &[&str] = &["-3", "0", "7", "12", "42", "250.5", "1000"];
/// Regular expressions in the part of RE2 every engine runs alike on these
/// messages: ASCII, no `.` next to an anchor (ClickHouse counts bytes).
const REGEXES: &[&str] = &[
    "time(d )?out",
    "^GET",
    "[0-9]+%",
    "fail(ed|ure)?",
    "(?-i)FAILED",
    "refused$",
    "r.try",
    "^(ok|retry)",
    "a\\\\b",
    "caf",
    "^/api/v[0-9]$",
    "^4",
    "^$",
    "x y|eu",
];
/// `extract` patterns over the message words.
const EXTRACTS: &[&str] = &[
    "<first> <second>",
    "Login <what>",
    "<_> retry<rest>",
    "disk <x> full",
    "user <u>",
];
/// Message words: mixed case, LIKE's wildcards and escape (`%`, `_`, `\`),
/// quotes, tabs and newlines, and common accented letters. Beyond those,
/// case folding differs between the engines: ClickHouse 18.16's
/// `positionCaseInsensitiveUTF8` folds only letters whose two cases have the
/// same UTF-8 length and that its tables know (not `ǅ`/`ǆ`, `ẞ`/`ß`, Kelvin
/// `K`/`k`, `Ⱥ`/`ⱥ`, Georgian Mtavruli, Cherokee, final `ς`), and DuckDB's
/// `lower()` maps `İ` to `i` and knows no Unicode 16 letters (`Ƛ`, `Ɤ`). So
/// the random text keeps to these words; what every engine must do in any
/// script, find a message by its own text, is
/// `messages_are_found_by_their_own_text_in_every_script`.
const WORDS: &[&str] = &[
    "Connection",
    "refused",
    "timeout",
    "GET",
    "/healthcheck",
    "disk",
    "95%",
    "full",
    r"C:\temp_dir",
    "user",
    "Login",
    "FAILED",
    "ok",
    "retry",
    "100%_done",
    r"a\b",
    "quote\"d",
    "it's",
    "tab\there",
    "multi\nline",
    "café",
    "CAFÉ",
    "Zürich",
    "ÜBER",
    "naïve",
    "résumé",
    "Ñandú",
    "ÅSA",
    "çà",
];
/// Needles that are not (only) slices of messages.
const SPECIAL_NEEDLES: &[&str] = &[
    "%",
    "_",
    r"\",
    "%_",
    "'",
    "\"",
    "\t",
    "\n",
    "nothing-here",
    "  ",
    "e_d",
    "5%f",
    "%d",
    "é",
    "É",
    "ü",
    "Ü",
];

/// Timestamps many records share exactly, so ties break by id.
const HOT_TIMES: &[i64] = &[
    1_714_564_800_000_000_000,
    1_714_564_800_000_000_001,
    1_714_651_200_123_456_789,
    -1,
    0,
    -86_400_000_000_000,
];

/// Days of far-future records, as days since 1970: 2100-01-01,
/// 2106-02-07 and 2106-02-08 (ClickHouse 18.16's `Date` ends with the
/// former), 2149-06-06 and 2149-06-07 (newer servers' `Date` ends with the
/// former), 2200-01-01 and 2262-04-11 (the last day of i64 nanoseconds).
const FAR_FUTURE_DAYS: &[i64] = &[47_482, 49_710, 49_711, 65_535, 65_536, 84_006, 106_751];

fn seed() -> u64 {
    match std::env::var("LOGSTREAM_DIFF_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("LOGSTREAM_DIFF_SEED={text:?} is not a u64")),
        Err(_) => rand::rng().random(),
    }
}

/// Random records and requests drawn from the vocabulary.
struct Gen {
    rng: StdRng,
    records: Vec<LogRecord>,
}

impl Gen {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("not empty")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// The same text with its case changed: kept, upper, lower or mixed.
    fn recase(&mut self, text: &str) -> String {
        match self.rng.random_range(0..4) {
            0 => text.to_string(),
            1 => text.to_uppercase(),
            2 => text.to_lowercase(),
            _ => text
                .chars()
                .map(|c| {
                    let flipped: Vec<char> = if self.rng.random_bool(0.5) {
                        c.to_uppercase().collect()
                    } else {
                        c.to_lowercase().collect()
                    };
                    // Only where case maps one letter to one letter.
                    if flipped.len() == 1 { flipped[0] } else { c }
                })
                .collect(),
        }
    }

    fn timestamp(&mut self) -> i64 {
        match self.rng.random_range(0..20) {
            // Most in a week around the base time, some days apart.
            0..=9 => BASE_NS + self.rng.random_range(-3 * DAY..3 * DAY),
            // Exactly equal to other records.
            10..=12 => self.pick(HOT_TIMES),
            13 if !self.records.is_empty() => {
                let i = self.rng.random_range(0..self.records.len());
                self.records[i].timestamp_nanos()
            }
            // Before 1970, down to the earliest representable nanosecond.
            14 => self.rng.random_range(i64::MIN..0),
            15 => self.rng.random_range(-DAY..0),
            // Far future, up to the latest representable nanosecond (a few
            // days only: each day is a ClickHouse partition, and hundreds of
            // them would slow every query down).
            16 => {
                let start = self.pick(FAR_FUTURE_DAYS) * DAY;
                start + self.rng.random_range(0..=(i64::MAX - start).min(DAY - 1))
            }
            17 => self.pick(&[i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1]),
            _ => BASE_NS + self.rng.random_range(0..10) * SECOND,
        }
    }

    fn message(&mut self) -> String {
        let words = self.rng.random_range(1..=6);
        let mut message = String::new();
        for i in 0..words {
            if i > 0 {
                message.push_str(self.pick(&[" ", " ", " ", "", "  ", "\n", ", "]));
            }
            let word = self.pick(WORDS);
            message.push_str(&self.recase(word));
        }
        message
    }

    fn id(&mut self, n: usize) -> String {
        match self.rng.random_range(0..10) {
            0..=6 => {
                let bits: u128 = self.rng.random();
                let hex = format!("{bits:032x}");
                format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            }
            7 => format!("r{n:04}"),
            8 => format!("R{n:04}"),
            _ => format!("é-{n}"),
        }
    }

    fn record(&mut self, n: usize) -> LogRecord {
        let ts = self.timestamp();
        let mut attributes = BTreeMap::new();
        for _ in 0..self.rng.random_range(0..=3) {
            let key = self.pick(ATTRIBUTE_KEYS).to_string();
            let value = self.pick(ATTRIBUTE_VALUES).to_string();
            attributes.insert(key, value);
        }
        let record = LogRecord {
            id: self.id(n),
            timestamp: Utc.timestamp_nanos(ts),
            service: self.pick(SERVICES).into(),
            level: self.pick(&Level::ALL),
            message: self.message(),
            host: self.chance(0.7).then(|| self.pick(HOSTS).into()),
            trace_id: self.chance(0.4).then(|| self.pick(TRACES).into()),
            span_id: self.chance(0.3).then(|| self.pick(SPANS).into()),
            attributes,
        };
        assert_eq!(record.timestamp_nanos(), ts);
        let problems = logstream_shared::validate(&record);
        assert!(problems.is_empty(), "{problems:?} in {record:?}");
        record
    }

    /// A substring of `text` of 1 to 10 characters.
    fn slice(&mut self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let start = self.rng.random_range(0..chars.len());
        let len = self.rng.random_range(1..=10.min(chars.len() - start));
        chars[start..start + len].iter().collect()
    }

    fn needle(&mut self) -> String {
        let needle = match self.rng.random_range(0..10) {
            0..=5 => {
                let i = self.rng.random_range(0..self.records.len());
                let message = self.records[i].message.clone();
                self.slice(&message)
            }
            6..=8 => {
                let word = self.pick(WORDS);
                if self.chance(0.5) {
                    word.to_string()
                } else {
                    self.slice(word)
                }
            }
            _ => self.pick(SPECIAL_NEEDLES).to_string(),
        };
        self.recase(&needle)
    }

    fn values(&mut self, pool: &[&str]) -> Vec<String> {
        let n = self.rng.random_range(1..=3);
        let mut values: Vec<String> = (0..n).map(|_| self.pick(pool).to_string()).collect();
        if self.chance(0.1) {
            values.push("none-such".into());
        }
        values
    }

    fn filter(&mut self) -> Filter {
        match self.rng.random_range(0..16) {
            0..=3 => Filter::Text(self.needle()),
            4 => self.field(Field::Service, SERVICES),
            5 => self.field(Field::Host, HOSTS),
            6 => {
                let (field, pool) = if self.chance(0.5) {
                    (Field::Trace, TRACES)
                } else {
                    (Field::Span, SPANS)
                };
                self.field(field, pool)
            }
            7 => {
                let ids: Vec<String> = (0..self.rng.random_range(1..=3))
                    .map(|_| {
                        let i = self.rng.random_range(0..self.records.len());
                        self.records[i].id.clone()
                    })
                    .collect();
                Filter::Field {
                    field: Field::Id,
                    test: Test::AnyOf(ids),
                }
            }
            8 => {
                let n = self.rng.random_range(1..=3);
                let levels = Level::ALL.choose_multiple(&mut self.rng, n).copied();
                Filter::Level(LevelFilter::AnyOf(levels.collect()))
            }
            9 => Filter::Level(LevelFilter::Compare(
                self.pick(&Comparison::ALL),
                self.pick(&Level::ALL),
            )),
            10 => Filter::MessageRegex(self.regex()),
            _ => Filter::Attribute {
                key: self.pick(ATTRIBUTE_KEYS).into(),
                test: self.attribute_test(),
            },
        }
    }

    fn regex(&mut self) -> Pattern {
        Pattern(self.pick(REGEXES).to_string())
    }

    fn field(&mut self, field: Field, pool: &[&str]) -> Filter {
        let test = match self.rng.random_range(0..6) {
            0 => Test::NotEqual(self.pick(pool).into()),
            1 => Test::Regex(self.regex()),
            _ => Test::AnyOf(self.values(pool)),
        };
        Filter::Field { field, test }
    }

    fn attribute_test(&mut self) -> Test {
        match self.rng.random_range(0..8) {
            0 => Test::NotEqual(self.pick(ATTRIBUTE_VALUES).into()),
            1 => Test::Present,
            2 => {
                let value = self.pick(ATTRIBUTE_VALUES);
                Test::Prefix(value.chars().take(self.rng.random_range(0..3)).collect())
            }
            3 | 4 => Test::Compare(
                self.pick(&Comparison::ALL),
                Number(self.pick(NUMBERS).into()),
            ),
            5 => Test::Regex(self.regex()),
            _ => Test::AnyOf(self.values(ATTRIBUTE_VALUES)),
        }
    }

    /// A filter tree: mostly ANDs of a few clauses, with ORs, NOTs and groups.
    fn expr(&mut self, depth: usize) -> Expr {
        let leaf = depth >= 2 || self.chance(0.5);
        let node = if leaf {
            Expr::Filter(self.filter())
        } else {
            let children = (0..self.rng.random_range(2..=3))
                .map(|_| self.expr(depth + 1))
                .collect();
            if self.chance(0.5) {
                Expr::And(children)
            } else {
                Expr::Or(children)
            }
        };
        if self.chance(0.25) {
            node.negate()
        } else {
            node
        }
    }

    /// A random filter, printed and parsed back as the API would receive it.
    fn query(&mut self) -> Query {
        let clauses = self.pick(&[0, 1, 1, 1, 2, 2, 2, 3, 3, 4]);
        let filter = match clauses {
            0 => Expr::all(),
            1 => self.expr(0),
            n => Expr::And((0..n).map(|_| self.expr(1)).collect()),
        };
        reparsed(Query::filter(filter))
    }

    fn name(&mut self, extracted: &[String]) -> Name {
        match self.rng.random_range(0..10) {
            0 => Name::Level,
            1 => Name::Field(Field::Service),
            2 => Name::Field(Field::Host),
            3 => Name::Field(Field::Trace),
            4 if !extracted.is_empty() => Name::Attribute(self.pick_string(extracted)),
            _ => Name::Attribute(self.pick(ATTRIBUTE_KEYS).into()),
        }
    }

    fn pick_string(&mut self, items: &[String]) -> String {
        items.choose(&mut self.rng).expect("not empty").clone()
    }

    fn aggregate(&mut self, extracted: &[String]) -> Aggregate {
        let function = self.pick(&[
            Function::Count,
            Function::Count,
            Function::CountDistinct,
            Function::Sum,
            Function::Avg,
            Function::Min,
            Function::Max,
            Function::Percentile(50),
            Function::Percentile(95),
        ]);
        let arg = (function != Function::Count || self.chance(0.3)).then(|| self.name(extracted));
        Aggregate {
            function,
            arg,
            alias: None,
        }
    }

    /// A random pipeline that makes a table: `where`/`extract` stages, then
    /// `stats`, `top` or `fields`, sometimes `sort` and `limit`.
    fn table_query(&mut self) -> Query {
        let mut query = self.query();
        let mut extracted = Vec::new();
        for _ in 0..self.rng.random_range(0..=2) {
            if self.chance(0.5) {
                let pattern = ExtractPattern::new(self.pick(EXTRACTS)).unwrap();
                extracted.extend(pattern.names().iter().map(|n| n.to_string()));
                query.stages.push(Stage::Extract(pattern));
            } else {
                query.stages.push(Stage::Where(self.expr(1)));
            }
        }
        let table = match self.rng.random_range(0..5) {
            0..=2 => {
                let aggregates = (0..self.rng.random_range(1..=3))
                    .map(|_| self.aggregate(&extracted))
                    .collect();
                let mut by: Vec<GroupKey> = (0..self.rng.random_range(0..=2))
                    .map(|_| GroupKey::Name(self.name(&extracted)))
                    .collect();
                if self.chance(0.3) {
                    let (text, nanos) =
                        self.pick(&[("1h", 3600 * SECOND), ("1d", DAY), ("7d", 7 * DAY)]);
                    by.push(GroupKey::Time(Step {
                        text: text.into(),
                        nanos,
                    }));
                }
                by.dedup();
                Stage::Stats { aggregates, by }
            }
            3 => Stage::Top {
                limit: self.pick(&[1, 3, 10]),
                by: (0..self.rng.random_range(1..=2))
                    .map(|_| self.name(&extracted))
                    .collect(),
            },
            _ => Stage::Fields(
                [Name::Time, Name::Field(Field::Id)]
                    .into_iter()
                    .chain((0..2).map(|_| self.name(&extracted)))
                    .collect(),
            ),
        };
        query.stages.push(table);
        if self.chance(0.4)
            && let logstream_shared::query::Output::Table(columns) = query.output()
        {
            let column = columns[self.rng.random_range(0..columns.len())]
                .name
                .clone();
            query.stages.push(Stage::Sort(vec![SortKey {
                column,
                descending: self.chance(0.5),
            }]));
        }
        if self.chance(0.3) {
            query.stages.push(Stage::Limit(self.pick(&[1, 5, 50])));
        }
        reparsed(query)
    }

    /// A time bound: at, just around or far from a record's time.
    fn time_point(&mut self) -> i64 {
        match self.rng.random_range(0..10) {
            0..=5 => {
                let i = self.rng.random_range(0..self.records.len());
                let ts = self.records[i].timestamp_nanos();
                ts.saturating_add(self.pick(&[-1, 0, 0, 0, 1]))
            }
            6 => self.pick(HOT_TIMES),
            7 => self.pick(&[i64::MIN, i64::MAX, 0]),
            _ => self.timestamp(),
        }
    }

    fn bound(&mut self) -> Option<i64> {
        self.chance(0.5).then(|| self.time_point())
    }

    fn cursor(&mut self) -> Cursor {
        let id = if self.chance(0.7) {
            let i = self.rng.random_range(0..self.records.len());
            self.records[i].id.clone()
        } else {
            self.pick(&["", "0", "8", "r0500", "zzz", "é"]).to_string()
        };
        Cursor {
            ts_ns: self.time_point(),
            id,
        }
    }

    /// `since < until`, both set, as the histogram API always has them.
    fn range(&mut self, selection: &Selection) -> (i64, i64) {
        if let (Some(since), Some(until)) = (selection.since_ns, selection.until_ns)
            && since < until
        {
            return (since, until);
        }
        loop {
            let (a, b) = (self.time_point(), self.time_point());
            if a != b {
                return (a.min(b), a.max(b));
            }
        }
    }

    /// A histogram the API could send: the first bucket's start (the step's
    /// multiple at or before `since`) is a time, and there are at most
    /// 10 000 buckets.
    fn histogram(&mut self, selection: &Selection) -> Option<HistogramRequest> {
        let (since, until) = self.range(selection);
        let range = i128::from(until) - i128::from(since);
        let buckets: i128 = self.pick(&[1, 2, 7, 60, 500, 10_000]);
        let mut step = ((range + buckets - 1) / buckets).clamp(1, i64::MAX.into());
        if self.chance(0.5) {
            // A round step, as people choose them.
            let nice = [SECOND, 60 * SECOND, 3600 * SECOND, DAY, 7 * DAY, 365 * DAY];
            if let Some(n) = nice.iter().map(|&n| i128::from(n)).find(|&n| n >= step) {
                step = n;
            }
        }
        loop {
            // The API's arithmetic (stats.rs), which rejects what overflows.
            let first = i128::from(since).div_euclid(step) * step;
            let count = (i128::from(until) - first + step - 1) / step;
            if let (Ok(_), true) = (i64::try_from(first), count <= 10_000) {
                return Some(HistogramRequest {
                    selection: Selection {
                        since_ns: Some(since),
                        until_ns: Some(until),
                        ..selection.clone()
                    },
                    step_ns: step as i64,
                });
            }
            if step >= i128::from(i64::MAX) {
                return None;
            }
            step = (step * 2).min(i64::MAX.into());
        }
    }
}

/// The query as the API receives it: printed, then parsed.
fn reparsed(query: Query) -> Query {
    let printed = query.to_string();
    let parsed = printed
        .parse::<Query>()
        .unwrap_or_else(|e| panic!("{printed}: {e}"));
    assert_eq!(parsed, query, "printed as {printed}");
    parsed
}

/// A table compared with a tolerance for floats: engines sum in different
/// orders (relative 1e-9).
#[derive(Debug)]
struct Close(Table);

impl PartialEq for Close {
    fn eq(&self, other: &Close) -> bool {
        common::close_tables(&self.0, &other.0)
    }
}

fn show_table(table: &Table) -> Vec<String> {
    let header: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    std::iter::once(format!("{header:?} truncated={}", table.truncated))
        .chain(table.rows.iter().map(|row| format!("{row:?}")))
        .collect()
}

fn show_record(r: &LogRecord) -> String {
    format!(
        "{} ({}) id={:?} service={:?} level={} host={:?} trace={:?} span={:?} attrs={:?} message={:?}",
        r.timestamp_nanos(),
        r.timestamp.to_rfc3339(),
        r.id,
        r.service,
        r.level.as_str(),
        r.host,
        r.trace_id,
        r.span_id,
        r.attributes,
        r.message
    )
}

fn show_page(page: &SearchPage) -> Vec<String> {
    let mut lines: Vec<String> = page.records.iter().map(show_record).collect();
    lines.push(format!("next: {:?}", page.next));
    lines
}

fn show_debug<T: Debug>(items: &[T]) -> Vec<String> {
    items.iter().map(|i| format!("{i:?}")).collect()
}

/// The index of the first line where any two of the answers differ.
fn first_difference(answers: &[&[String]]) -> usize {
    let longest = answers.iter().map(|a| a.len()).max().unwrap_or(0);
    (0..longest)
        .find(|&i| answers.windows(2).any(|w| w[0].get(i) != w[1].get(i)))
        .unwrap_or(longest)
}

/// Some lines from just before `first`, for failure messages.
fn excerpt(lines: &[String], first: usize) -> String {
    let shown: Vec<String> = lines
        .iter()
        .enumerate()
        .skip(first.saturating_sub(3))
        .take(10)
        .map(|(i, line)| format!("  [{i}] {line}"))
        .collect();
    format!("{} lines\n{}", lines.len(), shown.join("\n"))
}

/// One request's three answers: DuckDB's, ClickHouse's and the model's.
struct Answers<'a, T> {
    duckdb: Result<T, String>,
    clickhouse: Result<T, String>,
    model: T,
    show: &'a dyn Fn(&T) -> Vec<String>,
}

impl<T: PartialEq> Answers<'_, T> {
    fn check(self, context: impl Display) {
        let Answers {
            duckdb,
            clickhouse,
            model,
            show,
        } = self;
        let verdict = match (&duckdb, &clickhouse) {
            (Ok(d), Ok(c)) if d == c && *d == model => return,
            (Ok(d), Ok(c)) if d == c => "DuckDB and ClickHouse agree, but not with the model",
            (Ok(_), Ok(_)) => "DuckDB and ClickHouse differ",
            _ => "a store failed",
        };
        let lines = |answer: &Result<T, String>| answer.as_ref().ok().map(show);
        let (d, c, m) = (lines(&duckdb), lines(&clickhouse), show(&model));
        let all: Vec<&[String]> = [d.as_deref(), c.as_deref(), Some(&m[..])]
            .into_iter()
            .flatten()
            .collect();
        let first = first_difference(&all);
        let render = |answer: &Result<T, String>, lines: Option<Vec<String>>| match lines {
            Some(lines) => excerpt(&lines, first),
            None => format!("ERROR {}", answer.as_ref().err().unwrap()),
        };
        panic!(
            "{verdict} (first difference at line [{first}])\n{context}\n\
             DuckDB: {}\nClickHouse: {}\nmodel: {}",
            render(&duckdb, d.clone()),
            render(&clickhouse, c.clone()),
            excerpt(&m, first),
        );
    }
}

fn show_selection(selection: &Selection) -> String {
    format!(
        "q=`{}` since={:?} until={:?}",
        selection.query, selection.since_ns, selection.until_ns
    )
}

struct Stores {
    duckdb: Arc<dyn Store>,
    clickhouse: Arc<dyn Store>,
    model: Model,
    /// Where the requests come from, for failure messages.
    label: String,
    /// ClickHouse's database.
    database: String,
}

impl Stores {
    /// Both stores, empty: DuckDB in a temporary directory (dropped with the
    /// returned guard), ClickHouse in a database of its own.
    async fn open(label: String) -> (Stores, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("duckdb://{}", dir.path().join("logs.duckdb").display());
        let duckdb = logstreamd::store::open(&url).await.unwrap();
        let database = services::unique("differential");
        let clickhouse = logstreamd::store::open(&services::clickhouse_store_url(&database))
            .await
            .unwrap();
        let stores = Stores {
            duckdb,
            clickhouse,
            model: Model::new(&[]),
            label,
            database,
        };
        (stores, dir)
    }

    /// One batch into both stores, as the daemon inserts it.
    async fn insert(&mut self, batch: &[LogRecord]) {
        let (duckdb, clickhouse) =
            tokio::join!(self.duckdb.insert(batch), self.clickhouse.insert(batch));
        for (store, result) in [("DuckDB", duckdb), ("ClickHouse", clickhouse)] {
            if let Err(e) = result {
                let mut times: Vec<_> = batch.iter().map(|r| r.timestamp).collect();
                times.sort();
                times.dedup();
                let times: Vec<String> = times.iter().map(|t| t.to_rfc3339()).collect();
                panic!(
                    "{}: {store} rejected a batch of {} valid records: {e}\n\
                     their times: {}",
                    self.label,
                    batch.len(),
                    times.join(", ")
                );
            }
        }
        self.model.insert(batch);
    }

    /// Drops the ClickHouse database (kept when a test fails, to look at).
    async fn finish(self) {
        services::clickhouse_sql(&format!("DROP DATABASE {}", self.database)).await;
    }

    /// Request #`n`'s answers from both stores, compared with the model's.
    fn check<T: PartialEq, E: Display>(
        &self,
        n: usize,
        what: String,
        (duckdb, clickhouse): (Result<T, E>, Result<T, E>),
        model: T,
        show: &dyn Fn(&T) -> Vec<String>,
    ) {
        Answers {
            duckdb: duckdb.map_err(|e| e.to_string()),
            clickhouse: clickhouse.map_err(|e| e.to_string()),
            model,
            show,
        }
        .check(format!("{}, request #{n}: {what}", self.label));
    }

    /// Every page of a search, each compared.
    async fn search(&self, n: usize, mut request: SearchRequest) -> usize {
        let mut pages = 0;
        loop {
            let answers = tokio::join!(
                self.duckdb.search(request.clone()),
                self.clickhouse.search(request.clone())
            );
            let model = self.model.search(&request);
            let next = model.next.clone();
            let what = format!(
                "search {} limit={} after={:?}, page {pages}",
                show_selection(&request.selection),
                request.limit,
                request.after
            );
            self.check(n, what, answers, model, &show_page);
            pages += 1;
            match next {
                Some(cursor) => request.after = Some(cursor),
                None => return pages,
            }
        }
    }

    async fn table(&self, n: usize, request: TableRequest) {
        let answers = tokio::join!(
            self.duckdb.table(request.clone()),
            self.clickhouse.table(request.clone())
        );
        let what = format!(
            "table {} limit={}",
            show_selection(&request.selection),
            request.limit
        );
        let model = Close(self.model.table(&request));
        let close = |r: Result<Table, _>| r.map(Close);
        self.check(
            n,
            what,
            (close(answers.0), close(answers.1)),
            model,
            &|t: &Close| show_table(&t.0),
        );
    }

    async fn histogram(&self, n: usize, request: HistogramRequest) {
        let answers = tokio::join!(
            counts::histogram(self.duckdb.as_ref(), &request),
            counts::histogram(self.clickhouse.as_ref(), &request)
        );
        let what = format!(
            "histogram {} step={}",
            show_selection(&request.selection),
            request.step_ns
        );
        let model = self.model.histogram(&request);
        self.check(n, what, answers, model, &|v: &Vec<HistogramCount>| {
            show_debug(v)
        });
    }

    async fn facets(&self, n: usize, request: FacetRequest) {
        let answers = tokio::join!(
            counts::facets(self.duckdb.as_ref(), &request),
            counts::facets(self.clickhouse.as_ref(), &request)
        );
        let what = format!(
            "facets {:?} limit={} {}",
            request.name,
            request.limit,
            show_selection(&request.selection)
        );
        let model = self.model.facets(&request);
        self.check(n, what, answers, model, &|v: &Vec<FacetCount>| {
            show_debug(v)
        });
    }
}

#[tokio::test]
#[ignore = "needs ClickHouse: scripts/test starts it"]
async fn duckdb_and_clickhouse_answer_random_requests_identically() {
    let seed = seed();
    eprintln!("differential seed {seed} (replay: LOGSTREAM_DIFF_SEED={seed})");
    let started = Instant::now();
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        records: Vec::new(),
    };
    for n in 0..RECORDS {
        let record = g.record(n);
        g.records.push(record);
    }
    let label = format!("seed {seed} (replay: LOGSTREAM_DIFF_SEED={seed})");
    let (mut stores, _dir) = Stores::open(label).await;

    // The same batches, in a shuffled order, into both stores.
    let mut shuffled = g.records.clone();
    shuffled.shuffle(&mut g.rng);
    let mut rest = &shuffled[..];
    while !rest.is_empty() {
        let size = g.rng.random_range(1..=rest.len()).max(rest.len().min(500));
        let (batch, tail) = rest.split_at(size);
        stores.insert(batch).await;
        rest = tail;
    }

    let (mut pages, mut histograms, mut facets) = (0, 0, 0);
    for n in 0..REQUESTS {
        let selection = Selection {
            query: g.query(),
            since_ns: g.bound(),
            until_ns: g.bound(),
        };
        let total = stores.model.selected(&selection).count();
        let limit = g
            .pick(&[1, 2, 3, 5, 10, 50, 200, 1000])
            .max(total.div_ceil(MAX_PAGES));
        let after = g.chance(0.2).then(|| g.cursor());
        let direction = g.pick(&[Direction::Backward, Direction::Forward]);
        let search = SearchRequest {
            selection: selection.clone(),
            limit,
            after,
            direction,
        };
        pages += stores.search(n, search).await;
        if g.chance(0.6)
            && let Some(request) = g.histogram(&selection)
        {
            stores.histogram(n, request).await;
            histograms += 1;
        }
        if g.chance(0.6) {
            for name in [
                Name::Field(Field::Service),
                Name::Level,
                Name::Field(Field::Host),
            ] {
                let limit = g.pick(&[1, 2, 3, 5, 10, 1000]);
                let request = FacetRequest {
                    selection: selection.clone(),
                    name,
                    limit,
                };
                stores.facets(n, request).await;
                facets += 1;
            }
        }
    }

    // Pipelines that make tables, each over a random time range.
    for n in 0..TABLE_REQUESTS {
        let request = TableRequest {
            selection: Selection {
                query: g.table_query(),
                since_ns: g.bound(),
                until_ns: g.bound(),
            },
            limit: g.pick(&[3, 100, 10_000]),
        };
        stores.table(REQUESTS + n, request).await;
    }

    // Retention of the days before one in the busy week, then everything
    // that is left, page by page.
    let first_kept = Utc
        .timestamp_nanos(BASE_NS + g.rng.random_range(-2..=3) * DAY)
        .date_naive();
    let (duckdb, clickhouse) = tokio::join!(
        stores.duckdb.drop_days_before(first_kept),
        stores.clickhouse.drop_days_before(first_kept)
    );
    duckdb.unwrap();
    clickhouse.unwrap();
    stores.model.drop_days_before(first_kept);
    stores.label = format!(
        "{} after dropping the days before {first_kept}",
        stores.label
    );
    let request = SearchRequest {
        limit: stores.model.records.len().div_ceil(MAX_PAGES).max(1),
        ..SearchRequest::default()
    };
    pages += stores.search(REQUESTS, request).await;

    eprintln!(
        "{REQUESTS} requests: {pages} pages, {histograms} histograms, {facets} facets, \
         {TABLE_REQUESTS} tables over {RECORDS} records, and retention, equal in both stores, \
         in {:.1?}",
        started.elapsed()
    );
    stores.finish().await;
}

// Minimal reproductions of what the random test found, one per finding.

/// Records of any time the API accepts (1677 to 2262) are stored, whatever
/// batches they arrive in. ClickHouse partitions by day, and its `Date`
/// ends earlier than that (2106-02-07 on 18.16, 2149-06-06 on newer servers).
#[tokio::test]
#[ignore = "needs ClickHouse: scripts/test starts it"]
async fn records_of_every_valid_time_are_stored() {
    let (mut stores, _dir) = Stores::open("records of every valid time".into()).await;
    let times = [
        ("1677", i64::MIN),
        ("1969", -DAY),
        ("1970", 0),
        ("2024", BASE_NS),
        ("2106-02-07", 49_710 * DAY),
        ("2106-02-08", 49_711 * DAY),
        ("2149-06-06", 65_535 * DAY),
        ("2149-06-07", 65_536 * DAY),
        ("2200", 84_006 * DAY),
        ("2262", i64::MAX),
    ];
    for (id, ts) in times {
        stores
            .insert(&[record(id, ts, "api", Level::Info, "m")])
            .await;
    }
    let request = SearchRequest {
        limit: 100,
        ..SearchRequest::default()
    };
    assert_eq!(stores.search(0, request).await, 1);
    stores.finish().await;
}

/// A histogram the API accepts (`since=1800-01-01&until=2262-01-01&step=100years`,
/// five buckets) where a record lies further from the origin than i64
/// nanoseconds reach; and the widest one (origin in 1677, step 2^62 ns).
#[tokio::test]
#[ignore = "needs ClickHouse: scripts/test starts it"]
async fn histograms_reach_across_the_whole_time_range() {
    let (mut stores, _dir) = Stores::open("histograms across the whole time range".into()).await;
    // Within what every ClickHouse `Date` holds, so that only the histogram
    // arithmetic is on trial here.
    let y2100 = 47_482 * DAY;
    stores
        .insert(&[
            record("1677", i64::MIN, "api", Level::Info, "earliest"),
            record("1970", 0, "api", Level::Warn, "epoch"),
            record("2024", BASE_NS, "api", Level::Error, "now"),
            record("2100", y2100, "api", Level::Fatal, "2100-01-01"),
        ])
        .await;
    let since = -5_364_662_400 * SECOND; // 1800-01-01
    let until = 9_183_110_400 * SECOND; // 2262-01-01
    let step = 3_155_760_000 * SECOND; // humantime's 100 years
    for (n, (since, until, step)) in [(since, until, step), (i64::MIN, i64::MAX, 1 << 62)]
        .into_iter()
        .enumerate()
    {
        let request = HistogramRequest {
            selection: Selection {
                since_ns: Some(since),
                until_ns: Some(until),
                ..Selection::default()
            },
            step_ns: step,
        };
        stores.histogram(n, request).await;
    }
    stores.finish().await;
}

/// Every message is found by a search for its own exact text, in any
/// script. (The random test's vocabulary keeps to ASCII and common accented
/// letters, because how case folds beyond that differs between engines.)
#[tokio::test]
#[ignore = "needs ClickHouse: scripts/test starts it"]
async fn messages_are_found_by_their_own_text_in_every_script() {
    let (mut stores, _dir) = Stores::open("messages found by their own text".into()).await;
    let words = [
        "İstanbul",
        "ΣΊΣΥΦΟΣ",
        "Ƛ",
        "Ɤ",
        "ǅemal",
        "Straße",
        "ẞ",
        "\u{212A}elvin",
        "Ⱥ",
        "ПРИВЕТ",
        "Ꭰ",
        "𐐀",
        "Ａ",
        "Łódź",
    ];
    let records: Vec<LogRecord> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let ts = BASE_NS + i as i64;
            record(&format!("w{i:02}"), ts, "api", Level::Info, w)
        })
        .collect();
    stores.insert(&records).await;
    let mut missing = Vec::new();
    for r in &records {
        let request = SearchRequest {
            selection: Selection::from(Query::filter(Expr::Filter(Filter::Text(
                r.message.clone(),
            )))),
            limit: 100,
            ..SearchRequest::default()
        };
        for (name, store) in [
            ("DuckDB", &stores.duckdb),
            ("ClickHouse", &stores.clickhouse),
        ] {
            let page = store.search(request.clone()).await.unwrap();
            if !page.records.iter().any(|found| found.id == r.id) {
                missing.push(format!(
                    "{name} does not find {:?} by searching for that text",
                    r.message
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    stores.finish().await;
}
