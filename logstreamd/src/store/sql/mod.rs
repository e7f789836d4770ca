//! Compiles a search into SQL with bound parameters, for the SQL stores.
//! User input only ever travels as parameters, never spliced into the text.
//!
//! `filter.rs` compiles the query language's filter tree and the `where` and
//! `extract` stages; `table.rs` the stages that make tables; `dialect.rs`
//! holds what DuckDB and ClickHouse spell differently.

mod dialect;
mod filter;
mod table;

pub(crate) use dialect::Dialect;
pub(crate) use table::{ColumnRead, table_sql};

use logstream_shared::api::Direction;

use super::{Cursor, SearchRequest, Selection};

/// A parameter bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Float(f64),
    Text(String),
}

/// SQL text and the parameters of its placeholders, in order: fragments
/// are put together with their parameters, so the two never drift apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Fragment {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
}

impl Fragment {
    fn new(sql: &str) -> Fragment {
        Fragment {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    fn param(param: Param) -> Fragment {
        Fragment::new("?").with(param)
    }

    /// `name(a, b, …)`; with an empty name, just the parenthesised list.
    fn call(name: &str, args: impl IntoIterator<Item = Fragment>) -> Fragment {
        let mut call = Fragment::new(name).push("(");
        for (i, arg) in args.into_iter().enumerate() {
            if i > 0 {
                call = call.push(", ");
            }
            call = call.append(arg);
        }
        call.push(")")
    }

    fn with(mut self, param: Param) -> Fragment {
        self.params.push(param);
        self
    }

    fn push(mut self, sql: &str) -> Fragment {
        self.sql.push_str(sql);
        self
    }

    fn append(mut self, other: Fragment) -> Fragment {
        self.sql.push_str(&other.sql);
        self.params.extend(other.params);
        self
    }

    /// The fragments joined by `separator`.
    fn join(parts: impl IntoIterator<Item = Fragment>, separator: &str) -> Fragment {
        let mut joined = Fragment::default();
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                joined = joined.push(separator);
            }
            joined = joined.append(part);
        }
        joined
    }

    fn into_parts(self) -> (String, Vec<Param>) {
        (self.sql, self.params)
    }
}

/// `?, ?, …`: `n` placeholders for an `IN (…)` list.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The WHERE condition for a selection (its filter, `where` and `extract`
/// stages, time range) and a keyset position.
fn where_clause(dialect: Dialect, selection: &Selection, after: Option<Fragment>) -> Fragment {
    let mut conditions = filter::conditions(dialect, &selection.query);
    if let Some(since) = selection.since_ns {
        conditions.push(Fragment::new("ts >= ?").with(Param::Int(since)));
    }
    if let Some(until) = selection.until_ns {
        conditions.push(Fragment::new("ts < ?").with(Param::Int(until)));
    }
    conditions.extend(after);
    if conditions.is_empty() {
        return Fragment::new(dialect.boolean(true));
    }
    Fragment::join(conditions, " AND ")
}

/// The columns a search returns, in the order stores read them.
pub(crate) const RECORD_COLUMNS: &str =
    "ts, id, service, level, message, host, trace_id, span_id, attr_keys, attr_values";

/// The records past a keyset position in a direction.
fn past(cursor: &Cursor, direction: Direction) -> Fragment {
    let sql = match direction {
        Direction::Backward => "(ts < ? OR (ts = ? AND id < ?))",
        Direction::Forward => "(ts > ? OR (ts = ? AND id > ?))",
    };
    Fragment::new(sql)
        .with(Param::Int(cursor.ts_ns))
        .with(Param::Int(cursor.ts_ns))
        .with(Param::Text(cursor.id.clone()))
}

/// Newest first (oldest first going forward); one row more than the limit
/// tells whether a page follows. With a `sort` stage, in its order (by time
/// in the direction among equals).
pub(crate) fn search_sql(dialect: Dialect, request: &SearchRequest) -> (String, Vec<Param>) {
    let after = request.after.as_ref().map(|c| past(c, request.direction));
    let condition = where_clause(dialect, &request.selection, after);
    let query = &request.selection.query;
    Fragment::new(&format!("SELECT {RECORD_COLUMNS} FROM logs WHERE "))
        .append(condition)
        .push(" ORDER BY ")
        .append(table::record_order(dialect, query, request.direction))
        .push(" LIMIT ?")
        .with(Param::Int(request.limit as i64 + 1))
        .into_parts()
}

/// The record with an id (ids are unique: one row at most), at a time if
/// known: both stores keep records in time order, so a time lets them read
/// one block instead of every id (2.5 ms instead of 400 ms on a 10M-record
/// DuckDB file).
pub(crate) fn record_sql(id: &str, at_ns: Option<i64>) -> (String, Vec<Param>) {
    let mut statement = Fragment::new(&format!("SELECT {RECORD_COLUMNS} FROM logs WHERE id = ?"))
        .with(Param::Text(id.to_string()));
    if let Some(at) = at_ns {
        statement = statement.push(" AND ts = ?").with(Param::Int(at));
    }
    statement.push(" LIMIT 1").into_parts()
}

/// Rows of (seq, the record's columns): the live tail's history, in commit
/// order, after a commit number.
pub(crate) fn tail_sql(
    dialect: Dialect,
    selection: &Selection,
    after_seq: i64,
    limit: usize,
) -> (String, Vec<Param>) {
    Fragment::new(&format!(
        "SELECT seq, {RECORD_COLUMNS} FROM logs WHERE seq > ? AND "
    ))
    .with(Param::Int(after_seq))
    .append(where_clause(dialect, selection, None))
    .push(" ORDER BY seq LIMIT ?")
    .with(Param::Int(limit as i64))
    .into_parts()
}

/// Rows of (attribute name, records that have it), most frequent first.
pub(crate) fn attribute_names_sql(
    dialect: Dialect,
    selection: &Selection,
    limit: usize,
) -> (String, Vec<Param>) {
    let condition = where_clause(dialect, selection, None);
    let from = match dialect {
        Dialect::DuckDb => Fragment::new("(SELECT unnest(attr_keys) AS k FROM logs WHERE ")
            .append(condition)
            .push(")"),
        // `attr_keys` in the condition is still the whole array.
        Dialect::ClickHouse { .. } => {
            Fragment::new("logs ARRAY JOIN attr_keys AS k WHERE ").append(condition)
        }
    };
    Fragment::new("SELECT k AS value, count(*) AS n FROM ")
        .append(from)
        .push(" GROUP BY k ORDER BY n DESC, k LIMIT ?")
        .with(Param::Int(limit as i64))
        .into_parts()
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
            direction: Direction::Backward,
        };
        let after = request.after.as_ref().map(|c| past(c, request.direction));
        let (sql, params) = where_clause(Dialect::DuckDb, &request.selection, after).into_parts();
        assert_eq!(
            sql,
            "(coalesce(service IN (?, ?), false) AND coalesce(level >= ?, false) \
             AND coalesce(contains(lower(message), lower(?)), false) \
             AND NOT ((list_contains(attr_values, ?)) \
             AND coalesce(attr_values[list_position(attr_keys, ?)] = ?, false))) \
             AND ts >= ? AND (ts < ? OR (ts = ? AND id < ?))"
        );
        assert_eq!(
            params,
            vec![
                Param::Text("api".into()),
                Param::Text("x'y".into()),
                Param::Int(3),
                Param::Text(r"50%_OFF\".into()),
                Param::Text("42".into()),
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
            where_clause(Dialect::DuckDb, &Selection::default(), None).into_parts(),
            ("true".into(), vec![])
        );
    }
}
