//! Fuzz-style property tests on stable Rust: every decoder of what clients
//! send (the protocol bodies in `api::ingest::fuzz_tests`, syslog frames in
//! `syslog::tests`, and here the query language and the line parsers) is
//! fed valid examples mutated at random and arbitrary bytes. Whatever the
//! input, decoding never panics and its peak memory (every allocation the
//! decoding thread makes, counted by `allocation_counter`) stays within a
//! bound linear in the input's size.
//!
//! Proptest runs 256 cases per property by default; `PROPTEST_CASES=100000
//! cargo test -p logstreamd fuzz` runs a longer campaign.

use logstream_parse::{Assembler, Format, Settings};
use logstream_shared::query::{self, Output, Query};
use proptest::prelude::*;

use crate::store::sql::{Dialect, search_sql, table_sql};
use crate::store::{SearchRequest, Selection, TableRequest};

/// The memory a decoder may take beyond its input's share: the fixed cost
/// of its tables, a first record, an error message.
pub(crate) const SLACK: u64 = 256 * 1024;

/// The most memory `run` held at once: measured on a thread of its own,
/// whose allocations are the only ones counted.
pub(crate) fn peak_memory<T: Send>(run: impl FnOnce() -> T + Send) -> (u64, T) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut result = None;
                let measured = allocation_counter::measure(|| result = Some(run()));
                (measured.bytes_max, result.expect("measured"))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `decode` on `input` and fails if its peak memory was more than
/// `per_byte` times the input's length plus `slack`.
pub(crate) fn assert_memory_within<T>(
    (per_byte, slack): (u64, u64),
    input: &[u8],
    decode: impl FnOnce(&[u8]) -> T + Send,
) -> Result<(), TestCaseError> {
    let (measured, ()) = peak_memory(|| {
        std::hint::black_box(decode(input));
    });
    let bound = per_byte * input.len() as u64 + slack;
    prop_assert!(
        measured <= bound,
        "decoding {} bytes took {measured} bytes of memory at its peak; the bound is {bound}",
        input.len(),
    );
    Ok(())
}

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flips one bit of the byte at the index.
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    /// Repeats the bytes from the first index to the second, in place
    /// (grows nested and repeated structures).
    Repeat(prop::sample::Index, prop::sample::Index, u8),
    /// Cuts the input short at the index.
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        4 => (any::<Index>(), 0..8u8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => (any::<Index>(), any::<Index>(), 1..8u8).prop_map(|(a, b, n)| Mutation::Repeat(a, b, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            if let Mutation::Insert(_, byte) = self {
                bytes.push(*byte);
            }
            return;
        }
        let len = bytes.len();
        match self {
            Mutation::Flip(i, bit) => bytes[i.index(len)] ^= 1 << bit,
            Mutation::Insert(i, byte) => bytes.insert(i.index(len + 1), *byte),
            Mutation::Remove(i) => {
                bytes.remove(i.index(len));
            }
            Mutation::Repeat(a, b, times) => {
                let (a, b) = (a.index(len), b.index(len));
                let (start, end) = (a.min(b), a.max(b) + 1);
                let piece = bytes[start..end].to_vec();
                for _ in 0..*times {
                    bytes.splice(end..end, piece.iter().copied());
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        }
    }
}

/// One of `examples`, changed by a few random mutations; now and then
/// arbitrary bytes instead.
pub(crate) fn mutated(examples: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let changed = (
        prop::sample::select(examples),
        prop::collection::vec(mutation(), 0..6),
    )
        .prop_map(|(mut bytes, mutations)| {
            for mutation in &mutations {
                mutation.apply(&mut bytes);
            }
            bytes
        });
    prop_oneof![
        9 => changed,
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Queries of every construct: filters, booleans, stages.
const QUERIES: [&str; 8] = [
    r#"service:api level:ERROR "connection reset" -debug"#,
    r#"(user_id=42 OR user_id>=100) AND NOT host:web-* msg~"time.?out""#,
    "status>=500 | stats count(), avg(duration_ms), p99(duration_ms) by service, time(1h)",
    "trace_id:abc123 | top 10 user_id",
    r#"level:(WARN OR ERROR) | fields timestamp, service, message | sort by timestamp desc | limit 5"#,
    r#"path:"/api/v1/*" !service:health"#,
    "* | stats count() by level",
    r#"message:/err(or)?\d+/ span_id:"""#,
];

/// Parses `text` as a query and, when it parses, compiles it to SQL for each
/// store, as the API would: a search, or the table of a query that makes one.
fn parse_and_compile(text: &str) {
    let Ok(query) = query::parse(text) else {
        return;
    };
    for dialect in [
        Dialect::DuckDb,
        Dialect::ClickHouse { modern: false },
        Dialect::ClickHouse { modern: true },
    ] {
        compile(dialect, query.clone());
    }
}

fn compile(dialect: Dialect, query: Query) {
    let selection = Selection {
        query,
        since_ns: None,
        until_ns: Some(i64::MAX),
    };
    if let Output::Records = selection.query.output() {
        let request = SearchRequest {
            selection,
            limit: 100,
            after: None,
            direction: Default::default(),
        };
        std::hint::black_box(search_sql(dialect, &request));
    } else {
        let request = TableRequest {
            selection,
            limit: 100,
        };
        std::hint::black_box(table_sql(dialect, &request));
    }
}

/// Lines of the layouts the parsers recognise.
const LINES: [&str; 8] = [
    r#"{"level":"error","ts":"2026-11-27T12:00:01.5Z","msg":"boom","user":{"id":42}}"#,
    r#"127.0.0.1 - - [27/Nov/2026:12:00:01 +0000] "GET /x HTTP/1.1" 500 12 "-" "curl/8""#,
    r#"time=2026-11-27T12:00:01Z level=warn msg="slow \"query\"" took=1.5s"#,
    "2026-11-27 12:00:01,123 ERROR [main] com.example.App - failed",
    "\tat com.example.App.main(App.java:10)",
    "I1127 12:00:01.123456   42 server.go:17] started",
    "Nov 27 12:00:01 host sshd[42]: Accepted publickey for root",
    "2026-11-27T12:00:01.123456789Z stdout F plain text from a container",
];

/// Reads `bytes` as lines of text, as `lsctl send` and the daemon read them.
fn read_lines(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let mut assembler = Assembler::new(Settings {
        format: Format::Auto,
        ..Settings::default()
    });
    let mut records = 0;
    for line in text.lines() {
        records += assembler.push(line).len();
    }
    records + assembler.finish().len()
}

fn examples(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

proptest! {
    #[test]
    fn queries_decode_and_compile_within_memory(input in mutated(examples(&QUERIES))) {
        // Per query byte: its terms, its tree and the SQL of three dialects;
        // and compiling one regular expression, which may take a few
        // megabytes at its peak (see `MAX_QUERY_PATTERNS`).
        assert_memory_within((512, 4 << 20), &input, |bytes| {
            parse_and_compile(&String::from_utf8_lossy(bytes));
        })?;
    }

    #[test]
    fn lines_are_read_within_memory(input in mutated(vec![LINES.join("\n").into_bytes()])) {
        assert_memory_within((64, SLACK), &input, read_lines)?;
    }
}

#[test]
fn deeply_nested_queries_are_refused_without_exhausting_the_stack() {
    let nested = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
    let refused = query::parse(&nested).expect_err("too deep");
    assert!(refused.to_string().contains("nest"), "{refused}");
}
