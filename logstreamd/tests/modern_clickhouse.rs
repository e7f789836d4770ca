//! The newer-server path, proven on a modern ClickHouse engine.
//!
//! The daemon chooses its schema and SQL from the server's `SELECT version()`:
//! servers since 22.3 get dictionary encoding, codecs, a `DateTime64` alias
//! column, an n-gram skip index and a `lowerUTF8(message) LIKE` text search.
//! No such server runs here, but chdb does (the ClickHouse 26.9 engine
//! in-process, PyPI chdb-core): through `scripts/chdb-run`, these tests run
//! the exact DDL and every query shape that `SqlFor` prints for a modern
//! version, parameters bound, against real rows, and check each answer
//! against what the query language means (computed here in Rust) and
//! against the DuckDB store's answer to the same request.
//!
//! They are ignored by plain `cargo test`; `scripts/test` installs chdb and
//! runs them, and they fail (never skip) when python3 or chdb is missing.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use logstream_shared::api::Direction;
use logstream_shared::query::{Comparison, Expr, Field, Filter, LevelFilter, Name, Table, Test};
use logstream_shared::{Level, LogRecord, Query};
use logstreamd::store::{
    Cursor, FacetCount, FacetRequest, HistogramCount, HistogramRequest, SearchPage, SearchRequest,
    Selection, SqlFor, Store, TableRequest, counts,
};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use common::model::Model;
use common::{BASE_NS, DAY, SECOND, record};

/// What the daemon would see from a modern server's `SELECT version()`.
const MODERN_VERSION: &str = "26.9.1";

/// A chdb session in a python3 process that lives as long as this value.
struct Chdb {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    version: String,
    _dir: tempfile::TempDir,
}

impl Chdb {
    fn start() -> Chdb {
        let python = std::env::var("LOGSTREAM_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/chdb-run");
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(dir.path().join("chdb"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {python} {}: {e}; this test needs python3 with chdb-core \
                     (scripts/test installs it)",
                    script.display()
                )
            });
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let hello: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "scripts/chdb-run did not start ({e}): {line:?}; it needs python3 with chdb-core"
            )
        });
        let version = match hello.get("version").and_then(Value::as_str) {
            Some(version) => version.to_string(),
            None => panic!("chdb is not usable: {hello}"),
        };
        Chdb {
            child,
            stdin,
            stdout,
            version,
            _dir: dir,
        }
    }

    /// Runs one statement; its rows, or chdb's error message.
    fn run(&mut self, sql: &str) -> Result<Vec<Value>, String> {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", json!({ "sql": sql })).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("scripts/chdb-run replied {line:?} ({e}) to {sql}"));
        match (reply.get("rows"), reply.get("error")) {
            (Some(Value::Array(rows)), _) => Ok(rows.clone()),
            (_, Some(error)) => Err(error.as_str().unwrap_or_default().to_string()),
            _ => panic!("scripts/chdb-run replied {reply} to {sql}"),
        }
    }

    /// Runs a statement that must succeed.
    fn rows(&mut self, sql: &str) -> Vec<Value> {
        self.run(sql)
            .unwrap_or_else(|e| panic!("chdb {} rejected a statement: {e}\n{sql}", self.version))
    }

    /// What `ClickHouseStore::open` runs: the database, then the table in it.
    fn create_schema(&mut self, database: &str, sql: &SqlFor) {
        self.rows(&format!("CREATE DATABASE IF NOT EXISTS {database}"));
        self.rows(&format!("USE {database}"));
        self.rows(sql.schema());
    }
}

impl Drop for Chdb {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// JSONEachRow values (64-bit integers may come quoted).

fn int(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("expected an integer, got {value}"))
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_string()
}

fn optional_text(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| text(value))
}

fn texts(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {value}"))
        .iter()
        .map(text)
        .collect()
}

/// A search row (`ts, id, service, level, …`) as the store builds a record.
fn record_from(row: &Value) -> LogRecord {
    let level = text(&row["level"]);
    LogRecord {
        timestamp: Utc.timestamp_nanos(int(&row["ts"])),
        id: text(&row["id"]),
        service: text(&row["service"]),
        level: level.parse().unwrap_or_else(|_| panic!("level {level:?}")),
        message: text(&row["message"]),
        host: optional_text(&row["host"]),
        trace_id: optional_text(&row["trace_id"]),
        span_id: optional_text(&row["span_id"]),
        attributes: texts(&row["attr_keys"])
            .into_iter()
            .zip(texts(&row["attr_values"]))
            .collect(),
    }
}

/// The rows of one INSERT, as the daemon sends them (RowBinary there): the
/// columns of `SqlFor::insert_columns`, the day from `SqlFor::day_of`, the
/// level as its Enum8 number.
fn insert_statement(records: &[LogRecord]) -> String {
    let columns = SqlFor::insert_columns();
    let rows: Vec<String> = records
        .iter()
        .map(|r| {
            let values = [
                json!(SqlFor::day_of(r)),
                json!(r.timestamp_nanos()),
                json!(r.id),
                json!(r.service),
                json!(r.level.as_u8()),
                json!(r.message),
                json!(r.host),
                json!(r.trace_id),
                json!(r.span_id),
                json!(r.attributes.keys().collect::<Vec<_>>()),
                json!(r.attributes.values().collect::<Vec<_>>()),
            ];
            assert_eq!(values.len(), columns.len(), "one value per insert column");
            let row: serde_json::Map<String, Value> =
                columns.iter().map(|c| c.to_string()).zip(values).collect();
            Value::Object(row).to_string()
        })
        .collect();
    let settings: Vec<String> = SqlFor::version(MODERN_VERSION)
        .insert_settings()
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    let settings = match settings.is_empty() {
        true => String::new(),
        false => format!(" SETTINGS {}", settings.join(", ")),
    };
    format!(
        "INSERT INTO logs ({}){settings} FORMAT JSONEachRow\n{}",
        columns.join(", "),
        rows.join("\n")
    )
}

trait With {
    fn host(self, host: &str) -> Self;
    fn trace(self, trace: &str, span: &str) -> Self;
    fn attr(self, key: &str, value: &str) -> Self;
}

impl With for LogRecord {
    fn host(mut self, host: &str) -> Self {
        self.host = Some(host.into());
        self
    }
    fn trace(mut self, trace: &str, span: &str) -> Self {
        self.trace_id = Some(trace.into());
        self.span_id = (!span.is_empty()).then(|| span.into());
        self
    }
    fn attr(mut self, key: &str, value: &str) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

fn at(second: i64) -> i64 {
    BASE_NS + second * SECOND
}

/// Records for every filter: LIKE's special characters, quotes, tabs and
/// newlines, mixed case and accents, missing and empty fields, equal
/// timestamps, several days, before 1970 and far in the future.
fn fixed_records() -> Vec<LogRecord> {
    use Level::*;
    let mut records = vec![
        record("a", at(1), "api", Debug, "Connection refused by upstream").host("h1"),
        record("b", at(2), "api", Error, "timeout after 5s")
            .host("h2")
            .trace("t-1", "s-1")
            .attr("user_id", "42"),
        record("c", at(3), "db", Warn, "disk 95% full").attr("user_id", "7"),
        record("d", at(4), "web", Fatal, r"path C:\temp_dir missing").trace("t-2", ""),
        record("e", at(5), "web", Info, "GET /healthcheck 200").host("h1"),
        record("f", at(6), "billing", Info, "50%_OFF sale: 100% done")
            .attr("region", "eu")
            .attr("empty", ""),
        record("g", at(7), "api", Warn, "Café Zürich: ÜBER naïve résumé").host("Host-3"),
        record("h", at(8), "api", Error, "multi\nline\tERROR here").trace("t-1", "s-2"),
        record(
            "i",
            at(9),
            "db",
            Trace,
            r#"it's a 'quote' and "double" with back\slash"#,
        )
        .attr("path", "/api/v1")
        .attr("k.v-x", "it's"),
        record("j1", at(10), "web", Debug, "x a_b"),
        record("j2", at(11), "web", Debug, "x a%b"),
        record("j3", at(12), "web", Debug, r"x a\b"),
        record("j4", at(13), "web", Debug, "x axb"),
        record("j5", at(14), "web", Debug, r"x a\%b a\_b a\\b"),
        record(
            "q1",
            at(15),
            "API",
            Info,
            "backtick ` and ? and ?? and $1 and {x}",
        ),
        // Before 1970 (the first day's partition), at the epoch, far ahead.
        record("old1", -1, "api", Warn, "one nanosecond before 1970"),
        record("old2", -DAY - 5 * SECOND, "db", Error, "1969-12-30 late"),
        record("old3", i64::MIN, "api", Info, "the earliest nanosecond"),
        record("epoch", 0, "web", Info, "exactly at the epoch").host("h2"),
        record("far1", 7_258_118_400 * SECOND, "api", Fatal, "2200-01-01"),
        record(
            "far2",
            65_535 * DAY + 5 * SECOND,
            "db",
            Info,
            "2149-06-06, the last Date",
        ),
        record("far3", i64::MAX, "web", Error, "the latest nanosecond").host("h1"),
        // Earlier days, for retention.
        record("day-3", at(-3 * 86_400), "api", Info, "three days ago"),
        record(
            "day-2",
            at(-2 * 86_400 + 11 * 3600),
            "api",
            Warn,
            "two days ago, 23:00",
        ),
        record(
            "day-1",
            at(-86_400 - 12 * 3600),
            "db",
            Info,
            "00:00 yesterday",
        )
        .host("h2"),
        record(
            "day-2-last",
            at(-86_400 - 12 * 3600) - 1,
            "db",
            Info,
            "the last nanosecond of two days ago",
        ),
    ];
    // Twelve records in one nanosecond, so that pages split ties by id.
    for i in 0..12 {
        let level = Level::ALL[i % Level::ALL.len()];
        let mut r = record(&format!("tie-{i:02}"), at(20), "tie", level, "same moment");
        if i % 3 == 0 {
            r = r.host("h3");
        }
        records.push(r);
    }
    records
}

const SERVICES: &[&str] = &["api", "API", "web", "db", "billing", "tie"];
const HOSTS: &[&str] = &["h1", "h2", "h3", "Host-3"];
const ATTRIBUTES: &[(&str, &str)] = &[
    ("user_id", "42"),
    ("user_id", "7"),
    ("region", "eu"),
    ("region", "EU"),
    ("empty", ""),
    ("path", "/api/v1"),
    ("k.v-x", "it's"),
];
const WORDS: &[&str] = &[
    "Connection",
    "refused",
    "GET",
    "95%",
    r"C:\temp_dir",
    "100%_done",
    r"a\b",
    "a_b",
    "a%b",
    "it's",
    "\"q\"",
    "tab\there",
    "multi\nline",
    "Café",
    "ZÜRICH",
    "naïve",
    "?",
    "`",
];
const SPECIAL_NEEDLES: &[&str] = &["%", "_", r"\", "%_", r"\%", r"\_", r"\\", "'", "\"", "?"];

/// Random records and queries for the sweep (a smaller cousin of
/// differential.rs's generator).
struct Gen {
    rng: StdRng,
    records: Vec<LogRecord>,
}

impl Gen {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("not empty")
    }

    fn recase(&mut self, text: &str) -> String {
        match self.rng.random_range(0..3) {
            0 => text.to_string(),
            1 => text.to_uppercase(),
            _ => text.to_lowercase(),
        }
    }

    fn record(&mut self, n: usize) -> LogRecord {
        let ts = match self.rng.random_range(0..10) {
            0..=6 => BASE_NS + self.rng.random_range(-3 * DAY..DAY),
            7 => self.rng.random_range(-DAY..0),
            8 => at(20),
            _ => 65_535 * DAY + self.rng.random_range(0..DAY),
        };
        let words: Vec<String> = (0..self.rng.random_range(1..=5))
            .map(|_| {
                let word = self.pick(WORDS);
                self.recase(word)
            })
            .collect();
        let mut r = record(
            &format!("rnd-{n:04}"),
            ts,
            self.pick(SERVICES),
            self.pick(&Level::ALL),
            &words.join(" "),
        );
        if self.rng.random_bool(0.6) {
            r = r.host(self.pick(HOSTS));
        }
        if self.rng.random_bool(0.3) {
            let span = self.pick(&["s-1", "s-2", ""]);
            r = r.trace(self.pick(&["t-1", "t-2"]), span);
        }
        for _ in 0..self.rng.random_range(0..=2) {
            let (key, value) = self.pick(ATTRIBUTES);
            r = r.attr(key, value);
        }
        r
    }

    fn needle(&mut self) -> String {
        let needle = if self.rng.random_bool(0.7) {
            let i = self.rng.random_range(0..self.records.len());
            let chars: Vec<char> = self.records[i].message.chars().collect();
            let start = self.rng.random_range(0..chars.len());
            let len = self.rng.random_range(1..=8.min(chars.len() - start));
            chars[start..start + len].iter().collect()
        } else {
            self.pick(SPECIAL_NEEDLES).to_string()
        };
        self.recase(&needle)
    }

    fn filter(&mut self) -> Filter {
        match self.rng.random_range(0..9) {
            0..=2 => Filter::Text(self.needle()),
            3 => Filter::Field {
                field: Field::Service,
                test: Test::AnyOf(vec![self.pick(SERVICES).into(), self.pick(SERVICES).into()]),
            },
            4 => Filter::Field {
                field: self.pick(&[Field::Host, Field::Trace, Field::Span]),
                test: Test::AnyOf(vec![
                    self.pick(&["h1", "h2", "Host-3", "t-1", "t-2", "s-1"])
                        .into(),
                ]),
            },
            5 => {
                let i = self.rng.random_range(0..self.records.len());
                Filter::Field {
                    field: Field::Id,
                    test: Test::AnyOf(vec![self.records[i].id.clone()]),
                }
            }
            6 => Filter::Level(LevelFilter::AnyOf(vec![
                self.pick(&Level::ALL),
                self.pick(&Level::ALL),
            ])),
            7 => Filter::Level(LevelFilter::Compare(
                self.pick(&[
                    Comparison::Less,
                    Comparison::LessOrEqual,
                    Comparison::Greater,
                    Comparison::GreaterOrEqual,
                ]),
                self.pick(&Level::ALL),
            )),
            _ => {
                let (key, value) = self.pick(ATTRIBUTES);
                Filter::Attribute {
                    key: key.into(),
                    test: Test::AnyOf(vec![value.into()]),
                }
            }
        }
    }

    fn selection(&mut self) -> Selection {
        let clauses = self.rng.random_range(0..=3);
        let filters = (0..clauses).map(|_| {
            let filter = Expr::Filter(self.filter());
            if self.rng.random_bool(0.25) {
                filter.negate()
            } else {
                filter
            }
        });
        let filter = filters.fold(Expr::all(), Expr::and);
        let query = Query::filter(filter);
        let bound = |g: &mut Gen| {
            g.rng.random_bool(0.4).then(|| {
                let i = g.rng.random_range(0..g.records.len());
                g.records[i].timestamp_nanos() + g.pick(&[-1, 0, 1])
            })
        };
        let since_ns = bound(self);
        let until_ns = bound(self);
        Selection {
            query,
            since_ns,
            until_ns,
        }
    }
}

fn lines<T: Debug>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("  {i:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modern SQL on chdb, DuckDB as the oracle, the Rust model as the spec.
struct Modern {
    chdb: Chdb,
    sql: SqlFor,
    duckdb: Arc<dyn Store>,
    model: Model,
    _duckdb_dir: tempfile::TempDir,
}

impl Modern {
    async fn start(database: &str) -> Modern {
        let sql = SqlFor::version(MODERN_VERSION);
        assert!(
            sql.is_modern(),
            "{MODERN_VERSION} gets the newer-server SQL"
        );
        let mut chdb = Chdb::start();
        let actual = SqlFor::version(&chdb.version);
        assert!(
            actual.is_modern() && actual.schema() == sql.schema(),
            "chdb {} is a modern server and gets the same DDL",
            chdb.version
        );
        chdb.create_schema(database, &sql);
        // Every start runs it again.
        chdb.rows(sql.schema());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("duckdb://{}", dir.path().join("logs.duckdb").display());
        Modern {
            chdb,
            sql,
            duckdb: logstreamd::store::open(&url).await.unwrap(),
            model: Model::new(&[]),
            _duckdb_dir: dir,
        }
    }

    /// One batch, one INSERT, as the daemon writes it, into chdb and DuckDB.
    async fn insert(&mut self, batch: &[LogRecord]) {
        self.chdb.rows(&insert_statement(batch));
        self.duckdb.insert(batch).await.unwrap();
        self.model.insert(batch);
    }

    /// The search statement on chdb, read the way the store reads it.
    fn chdb_search(&mut self, request: &SearchRequest) -> (String, SearchPage) {
        let statement = self.sql.search(request);
        let records = self.chdb.rows(&statement).iter().map(record_from).collect();
        (statement, SearchPage::of(records, request.limit))
    }

    /// A table statement on chdb, read the way the store reads it.
    fn chdb_table(&mut self, request: &TableRequest) -> (String, Table) {
        let (statement, reader) = self.sql.table(request);
        let rows = self.chdb.rows(&statement);
        let cells = rows
            .iter()
            .map(|row| serde_json::from_value(row["cells"].clone()).unwrap())
            .collect();
        let table = reader.table(cells).unwrap();
        (statement, table)
    }

    /// A table query on chdb and DuckDB; each must equal the model's
    /// (floats to a relative 1e-9: engines sum in different orders).
    async fn table(&mut self, q: &str) {
        let request = TableRequest {
            selection: Selection::from(q.parse::<Query>().unwrap()),
            limit: 100,
        };
        let (statement, chdb) = self.chdb_table(&request);
        let duckdb = self.duckdb.table(request.clone()).await.unwrap();
        let expected = self.model.table(&request);
        for (engine, table) in [("chdb", &chdb), ("DuckDB", &duckdb)] {
            assert!(
                common::close_tables(table, &expected),
                "{engine}'s table for {q} is not what the query language means\n\
                 statement: {statement}\n{engine}: {table:?}\nexpected: {expected:?}"
            );
        }
    }

    /// Every page of a search; each must equal the model's and DuckDB's.
    /// Returns the ids of all pages.
    async fn search(&mut self, mut request: SearchRequest) -> Vec<String> {
        let mut ids = Vec::new();
        for page_number in 0.. {
            let (statement, page) = self.chdb_search(&request);
            let expected = self.model.search(&request);
            let duckdb = self.duckdb.search(request.clone()).await.unwrap();
            check(
                &format!("search {request:?}, page {page_number}"),
                &statement,
                &page.records,
                &expected.records,
                &duckdb.records,
            );
            assert_eq!(page.next, expected.next, "next cursor of {statement}");
            assert_eq!(duckdb.next, expected.next, "DuckDB's next cursor");
            ids.extend(page.records.iter().map(|r| r.id.clone()));
            match page.next {
                Some(cursor) => request.after = Some(cursor),
                None => break,
            }
        }
        ids
    }

    async fn histogram(&mut self, request: HistogramRequest) -> Vec<HistogramCount> {
        let duckdb = counts::histogram(self.duckdb.as_ref(), &request)
            .await
            .unwrap();
        let (statement, table) = self.chdb_table(&request.table_request());
        let chdb = HistogramRequest::counts(table).unwrap();
        let what = format!("histogram {request:?}");
        check(
            &what,
            &statement,
            &chdb,
            &self.model.histogram(&request),
            &duckdb,
        );
        chdb
    }

    async fn facets(&mut self, request: FacetRequest) -> Vec<FacetCount> {
        let duckdb = counts::facets(self.duckdb.as_ref(), &request)
            .await
            .unwrap();
        let (statement, table) = self.chdb_table(&request.table_request());
        let chdb = FacetRequest::counts(table).unwrap();
        let what = format!("facets {request:?}");
        check(
            &what,
            &statement,
            &chdb,
            &self.model.facets(&request),
            &duckdb,
        );
        chdb
    }
}

/// chdb's answer must be the model's, and DuckDB's too.
fn check<T: PartialEq + Debug>(
    what: &str,
    statement: &str,
    chdb: &[T],
    expected: &[T],
    duckdb: &[T],
) {
    assert!(
        chdb == expected,
        "chdb's answer is not what the query language means\n{what}\nstatement: {statement}\n\
         chdb:\n{}\nexpected:\n{}",
        lines(chdb),
        lines(expected)
    );
    assert!(
        duckdb == expected,
        "DuckDB's answer differs\n{what}\nDuckDB:\n{}\nexpected:\n{}",
        lines(duckdb),
        lines(expected)
    );
}

/// Every stage and the new filters, as the modern dialect runs them.
const TABLE_QUERIES: &[&str] = &[
    "| stats count() by service",
    "| stats count(), count_distinct(host), min(region), max(path) by level",
    "(service:api OR service:web) -level:debug | stats count() by service, time(1h)",
    r#"~"time(d )?out" OR region~"^e" | top 3 service"#,
    "region:* path:/api/* | top 5 region, host",
    "| fields time, id, level, attr.region | sort by region desc | limit 7",
    r#"| extract "<first> <rest>" | where first~"^[a-z]" | stats count(), count_distinct(rest) by first | sort by count desc"#,
    "-region:* | stats count(), p50(k.v-x), p95(k.v-x), avg(k.v-x), sum(k.v-x) by service",
    "region!=eu host~\"^h[0-9]$\" | stats count() by host | sort by host desc",
];

fn search(q: &str, limit: usize) -> SearchRequest {
    SearchRequest {
        selection: Selection::from(q.parse::<Query>().unwrap()),
        limit,
        ..SearchRequest::default()
    }
}

/// The day whose partition holds `r`, worked out with chrono's calendar
/// rather than the daemon's arithmetic: its UTC date, within the range
/// that ClickHouse's `Date` holds on every version (records before 1970
/// share its first day, records after 2106-02-07 its last).
fn partition_day(r: &LogRecord) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2106, 2, 7).unwrap();
    r.timestamp.date_naive().clamp(first, last)
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs chdb: scripts/test installs it"]
async fn modern_schema_and_every_query_shape_work_on_a_modern_engine() {
    let mut m = Modern::start("logstream").await;

    // The schema as the server sees it.
    let columns: BTreeMap<String, (String, String, String)> = m
        .chdb
        .rows(
            "SELECT name, type, default_kind, compression_codec FROM system.columns \
             WHERE database = currentDatabase() AND table = 'logs'",
        )
        .iter()
        .map(|row| {
            (
                text(&row["name"]),
                (
                    text(&row["type"]),
                    text(&row["default_kind"]),
                    text(&row["compression_codec"]),
                ),
            )
        })
        .collect();
    let column = |name: &str| columns[name].clone();
    assert_eq!(column("ts").0, "Int64");
    assert!(column("ts").2.contains("Delta"), "{:?}", column("ts"));
    assert_eq!(
        (column("time").0.as_str(), column("time").1.as_str()),
        ("DateTime64(9)", "ALIAS")
    );
    assert_eq!(column("service").0, "LowCardinality(String)");
    assert_eq!(column("host").0, "LowCardinality(Nullable(String))");
    assert_eq!(column("attr_keys").0, "Array(LowCardinality(String))");
    assert!(column("level").0.starts_with("Enum8('TRACE' = 0"));
    let indexes = m.chdb.rows(
        "SELECT name, type, expr, granularity FROM system.data_skipping_indices \
         WHERE database = currentDatabase() AND table = 'logs'",
    );
    assert_eq!(
        indexes,
        vec![json!({"name": "message_ngrams", "type": "ngrambf_v1",
                    "expr": "lowerUTF8(message)", "granularity": 1})],
        "the n-gram index the text search's expression can use"
    );
    let table = m.chdb.rows(
        "SELECT engine, partition_key, sorting_key FROM system.tables \
         WHERE database = currentDatabase() AND name = 'logs'",
    );
    assert_eq!(
        table,
        vec![json!({"engine": "MergeTree", "partition_key": "day", "sorting_key": "ts, id"})]
    );

    // Real rows, in three batches as the daemon would send them.
    let mut records = fixed_records();
    let mut g = Gen {
        rng: StdRng::seed_from_u64(20240501),
        records: records.clone(),
    };
    for n in 0..300 {
        let r = g.record(n);
        records.push(r);
    }
    g.records = records.clone();
    for batch in records.chunks(records.len() / 3 + 1) {
        m.insert(batch).await;
    }
    let count = m.chdb.rows("SELECT count() AS n FROM logs");
    assert_eq!(int(&count[0]["n"]), records.len() as i64);

    // The `time` alias, the partition day and the id of every row.
    let rows = m.chdb.rows(
        "SELECT id, ts, time, toUnixTimestamp64Nano(time) AS nanos, \
         toString(time, 'UTC') AS utc, toString(day) AS day FROM logs",
    );
    assert_eq!(rows.len(), records.len());
    let by_id: BTreeMap<&str, &LogRecord> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    for row in &rows {
        let r = by_id[text(&row["id"]).as_str()];
        let ts = r.timestamp_nanos();
        assert_eq!(int(&row["ts"]), ts);
        assert_eq!(int(&row["nanos"]), ts, "time is ts as DateTime64(9): {row}");
        let utc = r.timestamp.format("%Y-%m-%d %H:%M:%S%.9f").to_string();
        assert_eq!(text(&row["utc"]), utc, "{row}");
        assert_eq!(text(&row["day"]), partition_day(r).to_string(), "{row}");
    }
    // The edges, spelled out: midnight, the nanosecond before it, before
    // 1970 and past what `Date` holds.
    let day_of = |id: &str| {
        let row = rows.iter().find(|row| text(&row["id"]) == id).unwrap();
        text(&row["day"])
    };
    for (id, day) in [
        ("day-1", "2024-04-30"),
        ("day-2-last", "2024-04-29"),
        ("epoch", "1970-01-01"),
        ("old1", "1970-01-01"),
        ("old3", "1970-01-01"),
        ("far1", "2106-02-07"),
        ("far3", "2106-02-07"),
    ] {
        assert_eq!(day_of(id), day, "the partition day of {id}");
    }
    let recent = m.chdb.rows(
        "SELECT id FROM logs WHERE time >= toDateTime64('2024-05-01 12:00:05', 9, 'UTC') \
         AND time < toDateTime64('2024-05-01 12:00:10', 9, 'UTC') ORDER BY id",
    );
    let recent: Vec<String> = recent.iter().map(|row| text(&row["id"])).collect();
    let mut expected: Vec<String> = records
        .iter()
        .filter(|r| (at(5)..at(10)).contains(&r.timestamp_nanos()))
        .map(|r| r.id.clone())
        .collect();
    expected.sort();
    assert_eq!(recent, expected, "filtering on the time column");

    // LIKE's special characters match literally, case-insensitively.
    let fixed_ids = |ids: Vec<String>| -> Vec<String> {
        ids.into_iter()
            .filter(|id| !id.starts_with("rnd-"))
            .collect()
    };
    for (q, expected) in [
        ("95%", vec!["c"]),
        ("temp_dir", vec!["d"]),
        ("TEMP_DIR", vec!["d"]),
        ("tem__dir", vec![]),
        ("disk%full", vec![]),
        (r#""C:\\temp""#, vec!["d"]),
        ("a_b", vec!["j1"]),
        ("a%b", vec!["j2"]),
        (r#""a\\b""#, vec!["j3"]),
        (r#""a\\%b""#, vec!["j5"]),
        (r#""a\\_b""#, vec!["j5"]),
        (r#""a\\\\b""#, vec!["j5"]),
        ("axb", vec!["j4"]),
        ("\"`\"", vec!["q1"]),
        ("??", vec!["q1"]),
        ("$1", vec!["q1"]),
        ("{x}", vec!["q1"]),
        ("\"'quote'\"", vec!["i"]),
        (r#""\"double\"""#, vec!["i"]),
        ("\"line\tERROR\"", vec!["h"]),
        ("\"multi\nLINE\"", vec!["h"]),
        ("café", vec!["g"]),
        ("CAFÉ", vec!["g"]),
        ("zürich", vec!["g"]),
        ("über", vec!["g"]),
        ("NAÏVE", vec!["g"]),
        ("RÉSUMÉ", vec!["g"]),
    ] {
        let ids = fixed_ids(m.search(search(q, 1000)).await);
        assert_eq!(ids, expected, "query {q}");
    }

    // Every filter kind, negated or not, alone and combined, in time ranges,
    // in one page and in pages of 40.
    let queries = [
        "",
        "CONNECTION",
        "\"refused by\"",
        "%",
        "_",
        r#""\\""#,
        "service:api,db",
        "-service:api",
        "service:API",
        "service:API,tie -level:info",
        "level:error,fatal",
        "level=trace",
        "level>=warn",
        "level>warn",
        "level<info",
        "level<=info",
        "-level:debug",
        "host:h1,h2",
        "-host:h1",
        "host:Host-3",
        "trace:t-1",
        "-trace:t-1",
        "span:s-1,s-2",
        "-span:s-1",
        "id:c",
        "id:c,d,tie-05,none",
        "-id:a",
        "user_id=42",
        "-user_id=42",
        "user_id=4",
        "empty=\"\"",
        "-empty=\"\"",
        "missing=\"\"",
        "region=eu",
        "region=EU",
        "path=/api/v1",
        "k.v-x=\"it's\"",
        "service:web -healthcheck",
        "service:api level>=error timeout",
        "-service:api -level:info -a",
        "service:tie host:h3",
        "service:tie -host:h3 level>debug",
    ];
    let ranges = [
        (None, None),
        (Some(at(3)), Some(at(8))),
        (
            Some(day_start(NaiveDate::from_ymd_opt(2024, 4, 29).unwrap())),
            None,
        ),
        (None, Some(0)),
        (Some(i64::MIN), Some(i64::MAX)),
    ];
    for q in queries {
        for (since_ns, until_ns) in ranges {
            for limit in [1000, 40] {
                let mut request = search(q, limit);
                request.selection.since_ns = since_ns;
                request.selection.until_ns = until_ns;
                m.search(request).await;
            }
        }
    }
    for q in TABLE_QUERIES {
        m.table(q).await;
    }
    // Small pages through equal timestamps, and through everything.
    for (q, since_ns, until_ns, limit) in [
        ("service:tie", None, None, 1),
        ("service:tie", None, None, 5),
        ("-level:info", Some(at(19)), Some(at(21)), 2),
        ("", Some(at(20)), Some(at(20) + 1), 3),
        ("", None, None, 7),
    ] {
        let mut request = search(q, limit);
        request.selection.since_ns = since_ns;
        request.selection.until_ns = until_ns;
        m.search(request).await;
    }
    // A cursor that is no record's (between two ties, and past the end).
    for after in [
        Cursor {
            ts_ns: at(20),
            id: "tie-05x".into(),
        },
        Cursor {
            ts_ns: i64::MIN,
            id: "zzz".into(),
        },
        Cursor {
            ts_ns: i64::MAX,
            id: String::new(),
        },
    ] {
        let mut request = search("", 4);
        request.after = Some(after);
        m.search(request).await;
    }

    // Histograms as the API asks for them, also across 1970 and around ties.
    let api_histogram = |q: &str, since: i64, until: i64, step: i64| HistogramRequest {
        selection: Selection {
            query: q.parse().unwrap(),
            since_ns: Some(since),
            until_ns: Some(until),
        },
        step_ns: step,
    };
    let counts = m
        .histogram(api_histogram("", at(0), at(60), 10 * SECOND))
        .await;
    assert!(!counts.is_empty());
    for (q, since, until, step) in [
        ("level>=warn", at(-4 * 86_400), at(86_400), 3600 * SECOND),
        ("", -3 * DAY, DAY, 3600 * SECOND),
        ("service:api,db -level:trace", -2 * DAY, 2 * DAY, DAY),
        ("service:tie", at(19), at(21), 7 * SECOND),
        ("", at(0), at(20) + 1, SECOND),
        ("-service:tie", at(-5 * 86_400), at(5 * 86_400), 7 * DAY),
    ] {
        m.histogram(api_histogram(q, since, until, step)).await;
    }

    // Facets of each field, with limits that cut ties.
    for field in [
        Name::Field(Field::Service),
        Name::Level,
        Name::Field(Field::Host),
    ] {
        for q in [
            "",
            "level>=warn",
            "-service:api",
            "service:tie",
            "nothing-matches",
        ] {
            for limit in [1, 2, 3, 1000] {
                m.facets(FacetRequest {
                    selection: Selection::from(q.parse::<Query>().unwrap()),
                    name: field.clone(),
                    limit,
                })
                .await;
            }
        }
    }

    // Random requests of every kind.
    for _ in 0..100 {
        let selection = g.selection();
        let limit = g.pick(&[1000, 50, 10]);
        let request = SearchRequest {
            selection: selection.clone(),
            limit,
            after: None,
            direction: g.pick(&[Direction::Backward, Direction::Forward]),
        };
        m.search(request).await;
        let field = Name::from_text(g.pick(&["service", "level", "host"]));
        let limit = g.pick(&[1, 3, 1000]);
        m.facets(FacetRequest {
            selection: selection.clone(),
            name: field,
            limit,
        })
        .await;
        let (since, until) = (
            selection.since_ns.unwrap_or(at(-4 * 86_400)),
            selection.until_ns.unwrap_or(at(86_400)),
        );
        if since < until {
            let step = g.pick(&[SECOND, 3600 * SECOND, DAY]);
            let span = i128::from(until) - i128::from(since);
            if span / i128::from(step) < 10_000 {
                let mut request = api_histogram("", since, until, step);
                request.selection.query = selection.query.clone();
                m.histogram(request).await;
            }
        }
    }

    // Retention: the partitions of the days before the first kept day, then
    // each dropped, leaves what DuckDB's retention leaves.
    let first_kept = NaiveDate::from_ymd_opt(2024, 4, 30).unwrap();
    let statement = m.sql.partitions_before(first_kept);
    let old: Vec<String> = m
        .chdb
        .rows(&statement)
        .iter()
        .map(|row| text(&row["partition_id"]))
        .collect();
    let cutoff = day_start(first_kept);
    let mut expected: Vec<String> = records
        .iter()
        .filter(|r| r.timestamp_nanos() < cutoff)
        .map(|r| partition_day(r).format("%Y%m%d").to_string())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(old, expected, "{statement}");
    assert!(
        old.contains(&"19700101".to_string()),
        "records before 1970 are on day 0"
    );
    for partition in &old {
        m.chdb.rows(&m.sql.drop_partition(partition));
    }
    m.duckdb.drop_days_before(first_kept).await.unwrap();
    m.model.drop_days_before(first_kept);
    let ids = m.search(search("", 1000)).await;
    assert_eq!(ids.len(), m.model.records.len());
    assert!(m.chdb.rows(&statement).is_empty(), "nothing older is left");
    m.facets(FacetRequest {
        selection: Selection::default(),
        name: Name::Level,
        limit: 10,
    })
    .await;
}

/// Histograms over the whole range of i64 nanoseconds (the API allows
/// `since` in 1677 and `until` in 2262 with a step of a few centuries): the
/// distance from the origin to a record exceeds i64.
#[tokio::test]
#[ignore = "needs chdb: scripts/test installs it"]
async fn histograms_span_the_whole_time_range() {
    let mut m = Modern::start("logstream").await;
    let records = vec![
        record("min", i64::MIN, "api", Level::Info, "earliest"),
        record("zero", 0, "api", Level::Warn, "epoch"),
        record("now", BASE_NS, "api", Level::Error, "now"),
        record("far", 7_258_118_400 * SECOND, "api", Level::Error, "2200"),
        record(
            "almost",
            i64::MAX - 1,
            "api",
            Level::Fatal,
            "almost the latest",
        ),
        // `until` is exclusive, and the API's until is at most i64::MAX.
        record("max", i64::MAX, "api", Level::Debug, "latest"),
    ];
    m.insert(&records).await;
    let step = 1_i64 << 62;
    let request = HistogramRequest {
        selection: Selection {
            since_ns: Some(i64::MIN),
            until_ns: Some(i64::MAX),
            ..Selection::default()
        },
        step_ns: step,
    };
    let counts: Vec<(i64, i64, i64)> = m
        .histogram(request)
        .await
        .into_iter()
        .map(|c| (c.bucket_start_ns, c.level.as_u8().into(), c.count as i64))
        .collect();
    assert_eq!(
        counts,
        vec![
            (i64::MIN, 2, 1),
            (0, 3, 1),
            (0, 4, 1),
            (step, 4, 1),
            (step, 5, 1)
        ]
    );
}

/// Case-insensitive search in any script: the modern dialect lowercases the
/// needle in Rust and the message with `lowerUTF8`; both must agree, so that
/// every message is found by its own text, and by its text in either case.
#[tokio::test]
#[ignore = "needs chdb: scripts/test installs it"]
async fn text_search_folds_case_in_every_script() {
    let mut chdb = Chdb::start();
    let sql = SqlFor::version(MODERN_VERSION);
    chdb.create_schema("unicode", &sql);
    let words = [
        "İstanbul",
        "ISTANBUL",
        "ΣΊΣΥΦΟΣ",
        "σίσυφος",
        "Straße",
        "ẞ",
        "ǅemal",
        "\u{212A}elvin",
        "Ⱥ",
        "Ƛ",
        "ПРИВЕТ",
        "Ꭰ",
        "𐐀",
        "Ａ",
        "Łódź",
        "ŒUVRE",
    ];
    let records: Vec<LogRecord> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            record(
                &format!("w{i:02}"),
                at(i as i64),
                "s",
                Level::Info,
                &format!("<{w}>"),
            )
        })
        .collect();
    chdb.rows(&insert_statement(&records));
    let model = Model::new(&records);
    let mut failures = Vec::new();
    for w in words {
        for needle in [w.to_string(), w.to_lowercase(), w.to_uppercase()] {
            let request = search(&format!("\"{needle}\""), 100);
            let statement = sql.search(&request);
            let found: Vec<String> = chdb
                .rows(&statement)
                .iter()
                .map(|row| text(&row["message"]))
                .collect();
            let expected: Vec<String> = model
                .search(&request)
                .records
                .into_iter()
                .map(|r| r.message)
                .collect();
            if found != expected {
                failures.push(format!(
                    "needle {needle:?}: chdb found {found:?}, expected {expected:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One batch whose records span more than 100 days (a backfill, or one day
/// per record in a batch of old logs) is one INSERT for the daemon.
#[tokio::test]
#[ignore = "needs chdb: scripts/test installs it"]
async fn one_insert_may_span_more_than_a_hundred_days() {
    let mut m = Modern::start("logstream").await;
    let records: Vec<LogRecord> = (0..150)
        .map(|i| {
            record(
                &format!("d{i:03}"),
                BASE_NS - i * DAY,
                "api",
                Level::Info,
                "day",
            )
        })
        .collect();
    let statement = insert_statement(&records);
    if let Err(e) = m.chdb.run(&statement) {
        panic!(
            "a modern server rejects the daemon's INSERT of one batch spanning 150 days: {e}\n\
             statement: {}…",
            &statement[..statement.find('\n').unwrap()]
        );
    }
    let count = m.chdb.rows("SELECT count() AS n FROM logs");
    assert_eq!(int(&count[0]["n"]), 150);
}

/// The text search's expression is the one the n-gram index is built on, so
/// a modern server skips the granules that cannot contain the needle.
#[tokio::test]
#[ignore = "needs chdb: scripts/test installs it"]
async fn text_search_skips_granules_with_the_ngram_index() {
    let mut chdb = Chdb::start();
    let sql = SqlFor::version(MODERN_VERSION);
    chdb.create_schema("ngrams", &sql);
    // 100 000 rows of one day (12 granules of 8192), one of them the needle.
    chdb.rows(&format!(
        "INSERT INTO logs ({}) SELECT 19844, {BASE_NS} + number, toString(number), 'api', 2, \
         if(number = 54321, 'upstream Connection REFUSED (50%_off)', concat('request ', toString(number), ' ok')), \
         NULL, NULL, NULL, [], [] FROM numbers(100000)",
        SqlFor::insert_columns().join(", ")
    ));
    for q in ["refused", r#""connection refused (50%_OFF)""#] {
        let statement = sql.search(&search(q, 10));
        let found: Vec<String> = chdb
            .rows(&statement)
            .iter()
            .map(|row| text(&row["id"]))
            .collect();
        assert_eq!(found, ["54321"], "{statement}");
        let plan: Vec<String> = chdb
            .rows(&format!("EXPLAIN indexes = 1 {statement}"))
            .iter()
            .map(|row| {
                // Without the tree's drawing characters.
                let line = text(&row["explain"]);
                line.trim_start_matches(|c: char| c.is_whitespace() || "│└─├┌".contains(c))
                    .trim_end()
                    .to_string()
            })
            .collect();
        let index = plan
            .iter()
            .position(|line| line == "Name: message_ngrams")
            .unwrap_or_else(|| panic!("the n-gram index is not used:\n{}", plan.join("\n")));
        let granules = plan[index..]
            .iter()
            .find_map(|line| line.strip_prefix("Granules: "))
            .and_then(|g| g.split_once('/'))
            .map(|(kept, all)| (kept.parse::<u32>().unwrap(), all.parse::<u32>().unwrap()));
        assert!(
            matches!(granules, Some((kept, all)) if kept < all),
            "the n-gram index skips no granule ({granules:?}):\n{}",
            plan.join("\n")
        );
    }
}
