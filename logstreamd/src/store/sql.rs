//! Compiles a search into SQL with bound parameters, for the SQL stores.
//! User input only ever travels as parameters, never spliced into the text.

use logstream_shared::query::{Clause, Field, Filter, LevelFilter};

use super::{Cursor, FacetField, FacetRequest, HistogramRequest, SearchRequest, Selection};

/// A parameter bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// The SQL engines we compile for. They share almost all SQL; the
/// differences live in the methods below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    DuckDb,
    /// `modern`: a server with the message n-gram index (see `clickhouse.rs`).
    ClickHouse {
        modern: bool,
    },
}

impl Dialect {
    /// Case-insensitive substring match of the message.
    fn message_contains(self, needle: &str, params: &mut Vec<Param>) -> String {
        match self {
            // Twice as fast as `ILIKE '%…%' ESCAPE` in DuckDB, and needs no
            // escaping. The needle goes through the same `lower` as the
            // message: Rust's lowercasing differs for some letters (İ, Σ).
            Dialect::DuckDb => {
                params.push(Param::Text(needle.to_string()));
                "contains(lower(message), lower(?))".to_string()
            }
            // The exact expression the n-gram skip index is built on, so
            // ClickHouse can skip granules that cannot contain the needle.
            // (The needle goes through the same lowerUTF8 as the message.)
            Dialect::ClickHouse { modern: true } => {
                params.push(Param::Text(format!("%{}%", escape_like(needle))));
                "lowerUTF8(message) LIKE lowerUTF8(?)".to_string()
            }
            Dialect::ClickHouse { modern: false } => {
                params.push(Param::Text(needle.to_string()));
                "positionCaseInsensitiveUTF8(message, ?) > 0".to_string()
            }
        }
    }

    /// The attribute `key` equals `value` (NULL or false when the key is absent).
    fn attribute_equals(self, key: &str, value: &str, params: &mut Vec<Param>) -> String {
        params.push(Param::Text(key.to_string()));
        match self {
            Dialect::DuckDb => {
                params.push(Param::Text(value.to_string()));
                "attr_values[list_position(attr_keys, ?)] = ?".to_string()
            }
            // `indexOf` is 0 for a missing key, and `arr[0]` is the default
            // value '', so a missing key must be ruled out first.
            Dialect::ClickHouse { .. } => {
                params.push(Param::Text(key.to_string()));
                params.push(Param::Text(value.to_string()));
                "(has(attr_keys, ?) AND attr_values[indexOf(attr_keys, ?)] = ?)".to_string()
            }
        }
    }

    /// The level as a number 0–5 (ClickHouse stores an Enum8, which does not
    /// compare with numbers in `IN`).
    fn level(self) -> &'static str {
        match self {
            Dialect::DuckDb => "level",
            Dialect::ClickHouse { .. } => "CAST(level AS Int8)",
        }
    }

    /// Old ClickHouse servers have no `true`/`false` literals.
    fn boolean(self, value: bool) -> &'static str {
        match (self, value) {
            (Dialect::DuckDb, true) => "true",
            (Dialect::DuckDb, false) => "false",
            (Dialect::ClickHouse { .. }, true) => "1",
            (Dialect::ClickHouse { .. }, false) => "0",
        }
    }

    /// A facet's values as text (levels as their numbers).
    fn facet_value(self, field: FacetField) -> &'static str {
        match (self, field) {
            (Dialect::DuckDb, FacetField::Service) => "CAST(service AS VARCHAR)",
            (Dialect::DuckDb, FacetField::Level) => "CAST(level AS VARCHAR)",
            (Dialect::DuckDb, FacetField::Host) => "CAST(host AS VARCHAR)",
            (Dialect::ClickHouse { .. }, FacetField::Service) => "toString(service)",
            (Dialect::ClickHouse { .. }, FacetField::Level) => "toString(CAST(level AS Int8))",
            (Dialect::ClickHouse { .. }, FacetField::Host) => "toString(assumeNotNull(host))",
        }
    }

    /// The start of the histogram bucket of `ts`, from (origin, origin, step,
    /// step). `ts - origin` can exceed i64 (a range from 1700 to 2200), so
    /// it is computed wider: 128 bits in DuckDB; in ClickHouse (18.16 has no
    /// Int128) as UInt64, exact because `ts >= origin`, wrapping back to the
    /// bucket start, which lies between origin and ts.
    fn bucket(self) -> &'static str {
        match self {
            Dialect::DuckDb => "CAST(? + ((CAST(ts AS HUGEINT) - ?) // ?) * ? AS BIGINT)",
            Dialect::ClickHouse { .. } => "toInt64(toUInt64(?) + intDiv(toUInt64(ts - ?), ?) * ?)",
        }
    }
}

/// Escapes LIKE's wildcards so the needle matches literally.
fn escape_like(needle: &str) -> String {
    let mut escaped = String::with_capacity(needle.len());
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
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

/// `?, ?, …`: `n` placeholders for an `IN (…)` list.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn clause_sql(dialect: Dialect, clause: &Clause, params: &mut Vec<Param>) -> String {
    let predicate = match &clause.filter {
        Filter::Text(text) => dialect.message_contains(text, params),
        Filter::Field { field, values } => {
            params.extend(values.iter().cloned().map(Param::Text));
            format!("{} IN ({})", column(*field), placeholders(values.len()))
        }
        Filter::Level(LevelFilter::AnyOf(levels)) => {
            params.extend(levels.iter().map(|l| Param::Int(l.as_u8().into())));
            format!("{} IN ({})", dialect.level(), placeholders(levels.len()))
        }
        Filter::Level(LevelFilter::Compare(op, level)) => {
            params.push(Param::Int(level.as_u8().into()));
            format!("{} {} ?", dialect.level(), op.symbol())
        }
        Filter::Attribute { key, value } => dialect.attribute_equals(key, value, params),
    };
    // A missing host or attribute makes the predicate NULL; count that as "no
    // match" so that a negated clause keeps such records.
    let predicate = format!("coalesce({predicate}, {})", dialect.boolean(false));
    if clause.negated {
        format!("NOT {predicate}")
    } else {
        predicate
    }
}

/// The WHERE condition for a selection (and a keyset position), with its
/// parameters in order.
fn where_clause(
    dialect: Dialect,
    selection: &Selection,
    after: Option<&Cursor>,
) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let mut conditions: Vec<String> = selection
        .query
        .clauses
        .iter()
        .map(|clause| clause_sql(dialect, clause, &mut params))
        .collect();
    if let Some(since) = selection.since_ns {
        conditions.push("ts >= ?".into());
        params.push(Param::Int(since));
    }
    if let Some(until) = selection.until_ns {
        conditions.push("ts < ?".into());
        params.push(Param::Int(until));
    }
    if let Some(after) = after {
        conditions.push("(ts < ? OR (ts = ? AND id < ?))".into());
        params.extend([
            Param::Int(after.ts_ns),
            Param::Int(after.ts_ns),
            Param::Text(after.id.clone()),
        ]);
    }
    if conditions.is_empty() {
        return (dialect.boolean(true).into(), params);
    }
    (conditions.join(" AND "), params)
}

/// The columns a search returns, in the order stores read them.
pub(crate) const RECORD_COLUMNS: &str =
    "ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values";

/// Newest first; one row more than the limit tells whether a page follows.
pub(crate) fn search_sql(dialect: Dialect, request: &SearchRequest) -> (String, Vec<Param>) {
    let (condition, mut params) = where_clause(dialect, &request.selection, request.after.as_ref());
    params.push(Param::Int(request.limit as i64 + 1));
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM logs WHERE {condition} ORDER BY ts DESC, id DESC LIMIT ?"
    );
    (sql, params)
}

/// Rows of (seq, the record's columns): the live tail's history, in commit
/// order, after a commit number.
pub(crate) fn tail_sql(
    dialect: Dialect,
    selection: &Selection,
    after_seq: i64,
    limit: usize,
) -> (String, Vec<Param>) {
    let (condition, mut where_params) = where_clause(dialect, selection, None);
    let mut params = vec![Param::Int(after_seq)];
    params.append(&mut where_params);
    params.push(Param::Int(limit as i64));
    let sql = format!(
        "SELECT seq, {RECORD_COLUMNS} FROM logs WHERE seq > ? AND {condition} ORDER BY seq LIMIT ?"
    );
    (sql, params)
}

/// Rows of (bucket start in ns, level number, count).
pub(crate) fn histogram_sql(dialect: Dialect, request: &HistogramRequest) -> (String, Vec<Param>) {
    // Measured from the origin, `ts - origin` is never negative for counted
    // records, so integer division floors for times before 1970 too.
    let (origin, step) = (Param::Int(request.origin_ns), Param::Int(request.step_ns));
    let mut params = vec![origin.clone(), origin.clone(), step.clone(), step, origin];
    let (condition, where_params) = where_clause(dialect, &request.selection, None);
    params.extend(where_params);
    let (bucket, level) = (dialect.bucket(), dialect.level());
    let sql = format!(
        "SELECT {bucket} AS bucket, {level} AS level_number, count(*) AS n FROM logs \
         WHERE ts >= ? AND {condition} GROUP BY bucket, level_number ORDER BY bucket, level_number"
    );
    (sql, params)
}

/// Rows of (value as text, count).
pub(crate) fn facets_sql(dialect: Dialect, request: &FacetRequest) -> (String, Vec<Param>) {
    let column = match request.field {
        FacetField::Service => "service",
        FacetField::Level => "level",
        FacetField::Host => "host",
    };
    let value = dialect.facet_value(request.field);
    let (condition, mut params) = where_clause(dialect, &request.selection, None);
    params.push(Param::Int(request.limit as i64));
    let sql = format!(
        "SELECT {value} AS value, count(*) AS n FROM logs \
         WHERE {condition} AND {column} IS NOT NULL GROUP BY {column} ORDER BY n DESC, value LIMIT ?"
    );
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input_only_travels_as_parameters() {
        let request = SearchRequest {
            selection: Selection {
                query: r#"service:api,"x'y" level>=warn "50%_OFF\\" -user_id=42"#
                    .parse()
                    .unwrap(),
                since_ns: Some(10),
                until_ns: None,
            },
            limit: 100,
            after: Some(Cursor {
                ts_ns: 99,
                id: "abc".into(),
            }),
        };
        let (sql, params) =
            where_clause(Dialect::DuckDb, &request.selection, request.after.as_ref());
        assert_eq!(
            sql,
            "coalesce(service IN (?, ?), false) AND coalesce(level >= ?, false) \
             AND coalesce(contains(lower(message), lower(?)), false) \
             AND NOT coalesce(attr_values[list_position(attr_keys, ?)] = ?, false) \
             AND ts >= ? AND (ts < ? OR (ts = ? AND id < ?))"
        );
        assert_eq!(
            params,
            vec![
                Param::Text("api".into()),
                Param::Text("x'y".into()),
                Param::Int(3),
                Param::Text(r"50%_OFF\".into()),
                Param::Text("user_id".into()),
                Param::Text("42".into()),
                Param::Int(10),
                Param::Int(99),
                Param::Int(99),
                Param::Text("abc".into()),
            ]
        );
    }

    #[test]
    fn empty_search_matches_everything() {
        assert_eq!(
            where_clause(Dialect::DuckDb, &Selection::default(), None),
            ("true".into(), vec![])
        );
    }
}
