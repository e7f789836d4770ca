//! What DuckDB and ClickHouse spell differently. Every function returns SQL
//! text with `?` placeholders and pushes the matching parameters onto the
//! fragment it writes to, so text and parameters stay in order.

use logstream_shared::query::Pattern;

use super::{Fragment, Param};

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
    pub(super) fn message_contains(self, needle: &str) -> Fragment {
        match self {
            // Twice as fast as `ILIKE '%…%' ESCAPE` in DuckDB, and needs no
            // escaping. The needle goes through the same `lower` as the
            // message: Rust's lowercasing differs for some letters (İ, Σ).
            Dialect::DuckDb => Fragment::new("contains(lower(message), lower(?))")
                .with(Param::Text(needle.to_string())),
            // The exact expression the n-gram skip index is built on, so
            // ClickHouse can skip granules that cannot contain the needle.
            // (The needle goes through the same lowerUTF8 as the message.)
            Dialect::ClickHouse { modern: true } => {
                Fragment::new("lowerUTF8(message) LIKE lowerUTF8(?)")
                    .with(Param::Text(format!("%{}%", escape_like(needle))))
            }
            Dialect::ClickHouse { modern: false } => {
                Fragment::new("positionCaseInsensitiveUTF8(message, ?) > 0")
                    .with(Param::Text(needle.to_string()))
            }
        }
    }

    /// The attribute's value, NULL when the record has no such key.
    pub(super) fn attribute(self, key: &str) -> Fragment {
        let key = Param::Text(key.to_string());
        match self {
            Dialect::DuckDb => Fragment::new("attr_values[list_position(attr_keys, ?)]").with(key),
            // `indexOf` is 0 for a missing key, and `arr[0]` is the default
            // value '', so a missing key must be ruled out first.
            Dialect::ClickHouse { .. } => {
                Fragment::new("if(has(attr_keys, ?), attr_values[indexOf(attr_keys, ?)], NULL)")
                    .with(key.clone())
                    .with(key)
            }
        }
    }

    /// A condition that holds for every record with an attribute (of any
    /// key) equal to one of `values`, where testing it first speeds up an
    /// equality test: DuckDB finds a value among all of a record's values
    /// faster than it finds the key's position (over 10M records, 55 against
    /// 73 ms for one value; `list_has_any` was slower than either).
    pub(super) fn any_attribute_value_in(self, values: &[String]) -> Option<Fragment> {
        match self {
            Dialect::DuckDb => {
                let tests = values.iter().map(|value| {
                    Fragment::new("list_contains(attr_values, ?)").with(Param::Text(value.clone()))
                });
                Some(
                    Fragment::new("(")
                        .append(Fragment::join(tests, " OR "))
                        .push(")"),
                )
            }
            Dialect::ClickHouse { .. } => None,
        }
    }

    /// A query's regex as this engine is given it (see `Pattern`).
    pub(super) fn pattern(self, pattern: &Pattern) -> String {
        match self {
            Dialect::DuckDb => pattern.unguarded(),
            Dialect::ClickHouse { .. } => pattern.for_engines(),
        }
    }

    /// Whether `value` matches the regex `pattern` (RE2 in both engines).
    pub(super) fn regex_matches(self, value: Fragment, pattern: String) -> Fragment {
        let function = match self {
            Dialect::DuckDb => "regexp_matches",
            Dialect::ClickHouse { .. } => "match",
        };
        Fragment::call(function, [value, Fragment::param(Param::Text(pattern))])
    }

    /// The text `regex`'s first group captures, NULL when it does not match.
    pub(super) fn regex_capture(self, regex: &str) -> Fragment {
        let pattern = || Fragment::param(Param::Text(regex.to_string()));
        let matched = self.regex_matches(Fragment::new("message"), regex.to_string());
        let captured = match self {
            Dialect::DuckDb => Fragment::call(
                "regexp_extract",
                [Fragment::new("message"), pattern(), Fragment::new("1")],
            ),
            Dialect::ClickHouse { .. } => {
                Fragment::call("extract", [Fragment::new("message"), pattern()])
            }
        };
        Fragment::new("CASE WHEN ")
            .append(matched)
            .push(" THEN ")
            .append(captured)
            .push(" END")
    }

    /// `value` starts with `prefix`. (ClickHouse 18.16 has no `startsWith`;
    /// both sides of its comparison count bytes.)
    pub(super) fn starts_with(self, value: Fragment, prefix: &str) -> Fragment {
        let prefix = || Fragment::param(Param::Text(prefix.to_string()));
        match self {
            Dialect::DuckDb => Fragment::call("starts_with", [value, prefix()]),
            Dialect::ClickHouse { .. } => Fragment::call(
                "substring",
                [
                    value,
                    Fragment::new("1"),
                    Fragment::call("length", [prefix()]),
                ],
            )
            .push(" = ")
            .append(prefix()),
        }
    }

    /// `text` as a number when it is one (`query::NUMBER_PATTERN`), else NULL.
    pub(super) fn number(self, text: Fragment) -> Fragment {
        let pattern = Param::Text(logstream_shared::query::NUMBER_PATTERN.to_string());
        let matched = Fragment::call("", [text.clone(), Fragment::param(pattern)]);
        match self {
            Dialect::DuckDb => Fragment::new("CASE WHEN regexp_full_match")
                .append(matched)
                .push(" THEN TRY_CAST(")
                .append(text)
                .push(" AS DOUBLE) END"),
            // `if` computes both branches, so the cast must not throw.
            Dialect::ClickHouse { .. } => Fragment::new("if(match")
                .append(matched)
                .push(", toFloat64OrZero(")
                .append(text)
                .push("), NULL)"),
        }
    }

    /// The level as a number 0–5 (ClickHouse stores an Enum8, which does not
    /// compare with numbers in `IN`).
    pub(super) fn level(self) -> &'static str {
        match self {
            Dialect::DuckDb => "level",
            Dialect::ClickHouse { .. } => "CAST(level AS Int8)",
        }
    }

    /// Old ClickHouse servers have no `true`/`false` literals.
    pub(super) fn boolean(self, value: bool) -> &'static str {
        match (self, value) {
            (Dialect::DuckDb, true) => "true",
            (Dialect::DuckDb, false) => "false",
            (Dialect::ClickHouse { .. }, true) => "1",
            (Dialect::ClickHouse { .. }, false) => "0",
        }
    }

    pub(super) fn to_double(self, value: Fragment) -> Fragment {
        match self {
            Dialect::DuckDb => Fragment::new("CAST(").append(value).push(" AS DOUBLE)"),
            Dialect::ClickHouse { .. } => Fragment::call("toFloat64", [value]),
        }
    }

    /// The start of the `time(step)` bucket of `ts`: `ts` floored to a
    /// multiple of the step, or the earliest representable time where that
    /// multiple is earlier still. `ts - ts % step` truncates toward zero and
    /// cannot overflow; a negative remainder means one step further down.
    /// Any step up to i64::MAX works, as the histogram's steps need.
    pub(super) fn time_bucket(self, step: i64) -> Fragment {
        let p = match self {
            Dialect::DuckDb => "?",
            // Literals of big numbers are UInt64 in ClickHouse.
            Dialect::ClickHouse { .. } => "toInt64(?)",
        };
        let truncated = format!("ts - ts % {p}");
        Fragment::new(&format!(
            "CASE WHEN ts % {p} >= 0 THEN {truncated} \
             WHEN {truncated} >= {p} THEN {truncated} - {p} ELSE {p} END"
        ))
        .with(Param::Int(step))
        .with(Param::Int(step))
        .with(Param::Int(step))
        .with(Param::Int(i64::MIN + step))
        .with(Param::Int(step))
        .with(Param::Int(step))
        .with(Param::Int(i64::MIN))
    }

    /// `aggregated` (an aggregate of `value`), NULL, not 0 or NaN, where a
    /// group has no numbers, the same in every engine. DuckDB's aggregates
    /// are already; a check would cost it a second pass over the values
    /// (a third of a percentile's time).
    pub(super) fn null_without_numbers(self, value: Fragment, aggregated: Fragment) -> Fragment {
        match self {
            Dialect::DuckDb => aggregated,
            Dialect::ClickHouse { .. } => Fragment::new("CASE WHEN count(")
                .append(value)
                .push(") = 0 THEN NULL ELSE ")
                .append(aggregated)
                .push(" END"),
        }
    }

    /// Distinct non-NULL values.
    pub(super) fn count_distinct(self, value: Fragment) -> Fragment {
        match self {
            Dialect::DuckDb => Fragment::new("count(DISTINCT ").append(value).push(")"),
            // Over no rows, `uniqExact` of a Nullable is NULL, not 0.
            Dialect::ClickHouse { .. } => Fragment::call(
                "coalesce",
                [Fragment::call("uniqExact", [value]), Fragment::new("0")],
            ),
        }
    }

    /// The `level` (0–1) quantile of `value`, interpolated linearly.
    pub(super) fn percentile(self, level: f64, value: Fragment) -> Fragment {
        match self {
            Dialect::DuckDb => {
                Fragment::call("quantile_cont", [value, Fragment::new(&format!("{level}"))])
            }
            Dialect::ClickHouse { .. } => {
                Fragment::new(&format!("quantile({level})")).append(Fragment::call("", [value]))
            }
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
