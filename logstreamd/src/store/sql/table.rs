//! The stages that make tables (`stats`, `top`, `fields`), `sort` and
//! `limit`, in the order `logstream_shared::query::eval` defines: text
//! that is a number sorts by value before other text, empty values last.

use logstream_shared::Query;
use logstream_shared::api::Direction;
use logstream_shared::query::{
    Aggregate, ColumnSpec, Function, GroupKey, Name, Output, SortKey, Stage,
};

use super::filter::Scope;
use super::{Dialect, Fragment, Param, where_clause};
use crate::store::TableRequest;

/// How a store reads one column of a table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnRead {
    Text,
    Int,
    Float,
    /// Nanoseconds.
    Time,
    /// The level's number.
    Level,
}

/// A table's statement: columns `c0, c1, …` read as `reads` say; one row
/// more than `limit` tells that rows were cut.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableSql {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
    pub(crate) reads: Vec<ColumnRead>,
    pub(crate) limit: usize,
}

fn read_of(name: &Name) -> ColumnRead {
    match name {
        Name::Time => ColumnRead::Time,
        Name::Level => ColumnRead::Level,
        _ => ColumnRead::Text,
    }
}

/// The table a query with `stats`, `top` or `fields` answers with.
pub(crate) fn table_sql(dialect: Dialect, request: &TableRequest) -> TableSql {
    let query = &request.selection.query;
    let limit = query.limit().unwrap_or(request.limit);
    let scope = Scope::after_row_stages(dialect, query);
    let condition = || where_clause(dialect, &request.selection, None);
    let Output::Table(columns) = query.output() else {
        unreachable!("the API asks stores for tables only for table queries")
    };
    let table_stage = query.stages.iter().find_map(|s| match s {
        Stage::Stats { aggregates, by } => Some(Kind::Stats(aggregates, by)),
        Stage::Top { limit, by } => Some(Kind::Top(*limit, by)),
        Stage::Fields(names) => Some(Kind::Fields(names)),
        _ => None,
    });
    let statement = match table_stage {
        // Rows in record order, which an outer ORDER BY would lose.
        Some(Kind::Fields(names)) => {
            let (select, reads) = fields(&scope, condition(), query, names, limit);
            return TableSql {
                sql: select.sql,
                params: select.params,
                reads,
                limit,
            };
        }
        Some(Kind::Stats(aggregates, by)) => stats(&scope, condition(), aggregates, by),
        Some(Kind::Top(top, by)) => top_values(&scope, condition, top, by),
        None => unreachable!("Output::Table comes from stats, top or fields"),
    };
    let (inner, reads) = statement;
    let is_top = matches!(table_stage, Some(Kind::Top(..)));
    let order = table_order(dialect, query, &reads, &columns, is_top);
    let statement = Fragment::new("SELECT * FROM (")
        .append(inner)
        .push(") ORDER BY ")
        .append(order)
        .push(" LIMIT ?")
        .with(Param::Int(limit as i64 + 1));
    TableSql {
        sql: statement.sql,
        params: statement.params,
        reads,
        limit,
    }
}

enum Kind<'a> {
    Stats(&'a [Aggregate], &'a [GroupKey]),
    Top(usize, &'a [Name]),
    Fields(&'a [Name]),
}

fn column_list(values: Vec<Fragment>) -> Fragment {
    Fragment::join(
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.push(&format!(" AS c{i}"))),
        ", ",
    )
}

fn group_by(n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    format!(" GROUP BY {}", names.join(", "))
}

fn stats(
    scope: &Scope,
    condition: Fragment,
    aggregates: &[Aggregate],
    by: &[GroupKey],
) -> (Fragment, Vec<ColumnRead>) {
    let keys = by.iter().map(|key| group_value(scope, key));
    let computed = aggregates.iter().map(|a| aggregate(scope, a));
    let mut reads: Vec<ColumnRead> = by
        .iter()
        .map(|key| match key {
            GroupKey::Name(name) => read_of(name),
            GroupKey::Time(_) => ColumnRead::Time,
        })
        .collect();
    reads.extend(aggregates.iter().map(|a| match a.function {
        Function::Count | Function::CountDistinct => ColumnRead::Int,
        _ => ColumnRead::Float,
    }));
    let mut select = Fragment::new("SELECT ")
        .append(column_list(keys.chain(computed).collect()))
        .push(" FROM logs WHERE ")
        .append(condition);
    if !by.is_empty() {
        select = select.push(&group_by(by.len()));
    }
    (select, reads)
}

fn group_value(scope: &Scope, key: &GroupKey) -> Fragment {
    match key {
        GroupKey::Name(name) => scope.value(name),
        GroupKey::Time(step) => scope.dialect.time_bucket(step.nanos),
    }
}

/// A name's value as a number: times and levels as they are, text when it
/// is a number.
fn number(scope: &Scope, name: &Name) -> Fragment {
    let dialect = scope.dialect;
    match name {
        Name::Time | Name::Level => dialect.to_double(scope.value(name)),
        _ => dialect.number(scope.value(name)),
    }
}

fn aggregate(scope: &Scope, aggregate: &Aggregate) -> Fragment {
    let dialect = scope.dialect;
    let Some(arg) = &aggregate.arg else {
        return Fragment::new("count(*)");
    };
    let numeric = |function: &dyn Fn(Fragment) -> Fragment| {
        let value = number(scope, arg);
        dialect.null_without_numbers(value.clone(), function(value))
    };
    match aggregate.function {
        Function::Count => Fragment::call("count", [scope.value(arg)]),
        Function::CountDistinct => dialect.count_distinct(scope.value(arg)),
        Function::Sum => numeric(&|v| Fragment::call("sum", [v])),
        Function::Avg => numeric(&|v| Fragment::call("avg", [v])),
        Function::Min => numeric(&|v| Fragment::call("min", [v])),
        Function::Max => numeric(&|v| Fragment::call("max", [v])),
        Function::Percentile(p) => numeric(&|v| dialect.percentile(f64::from(p) / 100.0, v)),
    }
}

/// The `top` most frequent value combinations, with their share of all
/// selected records; records missing one of the names are not counted.
fn top_values(
    scope: &Scope,
    condition: impl Fn() -> Fragment,
    top: usize,
    by: &[Name],
) -> (Fragment, Vec<ColumnRead>) {
    let dialect = scope.dialect;
    let total = Fragment::new("(SELECT count(*) FROM logs WHERE ")
        .append(condition())
        .push(")");
    let share = dialect
        .to_double(Fragment::new("count(*)"))
        .push(" / ")
        .append(total);
    let values = by.iter().map(|n| scope.value(n));
    let present = by.iter().map(|n| scope.value(n).push(" IS NOT NULL"));
    let columns: Vec<Fragment> = values.chain([Fragment::new("count(*)"), share]).collect();
    let grouped = Fragment::new("SELECT ")
        .append(column_list(columns))
        .push(" FROM logs WHERE ")
        .append(Fragment::join(
            [condition()].into_iter().chain(present),
            " AND ",
        ))
        .push(&group_by(by.len()));
    let mut reads: Vec<ColumnRead> = by.iter().map(read_of).collect();
    reads.extend([ColumnRead::Int, ColumnRead::Float]);
    let first = Fragment::new("SELECT * FROM (")
        .append(grouped)
        .push(") ORDER BY ")
        .append(top_order(dialect, &reads))
        .push(" LIMIT ?")
        .with(Param::Int(top as i64));
    (first, reads)
}

/// Most frequent first, then by the values.
fn top_order(dialect: Dialect, reads: &[ColumnRead]) -> Fragment {
    let n = reads.len() - 2;
    let count = order_key(
        dialect,
        Fragment::new(&format!("c{n}")),
        ColumnRead::Int,
        true,
    );
    let values =
        (0..n).flat_map(|i| order_key(dialect, Fragment::new(&format!("c{i}")), reads[i], false));
    Fragment::join(count.into_iter().chain(values), ", ")
}

fn fields(
    scope: &Scope,
    condition: Fragment,
    query: &Query,
    names: &[Name],
    limit: usize,
) -> (Fragment, Vec<ColumnRead>) {
    let values = names.iter().map(|n| scope.value(n)).collect();
    let select = Fragment::new("SELECT ")
        .append(column_list(values))
        .push(" FROM logs WHERE ")
        .append(condition)
        .push(" ORDER BY ")
        .append(order_in_scope(
            scope,
            query.sort_keys(),
            Direction::Backward,
        ))
        .push(" LIMIT ?")
        .with(Param::Int(limit as i64 + 1));
    (select, names.iter().map(read_of).collect())
}

/// The outer order of a table: its sort keys, then (for `top`) most
/// frequent first, then every column ascending.
fn table_order(
    dialect: Dialect,
    query: &Query,
    reads: &[ColumnRead],
    columns: &[ColumnSpec],
    top: bool,
) -> Fragment {
    let column = |i: usize| Fragment::new(&format!("c{i}"));
    let mut keys: Vec<Fragment> = query
        .sort_keys()
        .iter()
        .filter_map(|key| {
            let i = columns.iter().position(|c| c.name == key.column)?;
            Some(order_key(dialect, column(i), reads[i], key.descending))
        })
        .flatten()
        .collect();
    if top {
        keys.extend(order_key(
            dialect,
            column(reads.len() - 2),
            ColumnRead::Int,
            true,
        ));
    }
    keys.extend((0..reads.len()).flat_map(|i| order_key(dialect, column(i), reads[i], false)));
    Fragment::join(keys, ", ")
}

/// The ORDER BY terms that sort `value` as `eval::compare_cells` does.
fn order_key(
    dialect: Dialect,
    value: Fragment,
    read: ColumnRead,
    descending: bool,
) -> Vec<Fragment> {
    let direction = if descending { " DESC" } else { " ASC" };
    let is_null = || {
        Fragment::new("CASE WHEN ")
            .append(value.clone())
            .push(" IS NULL THEN 1 ELSE 0 END")
    };
    match read {
        ColumnRead::Level => vec![value.push(direction)],
        ColumnRead::Int | ColumnRead::Float | ColumnRead::Time => {
            vec![is_null(), value.push(direction)]
        }
        ColumnRead::Text => {
            let number = dialect.number(value.clone());
            let class = Fragment::new("CASE WHEN ")
                .append(value.clone())
                .push(" IS NULL THEN 2 WHEN ")
                .append(number.clone())
                .push(" IS NULL THEN 1 ELSE 0 END");
            vec![class, number.push(direction), value.push(direction)]
        }
    }
}

/// Records (and `fields` rows): the sort keys, then by time in `direction`.
fn order_in_scope(scope: &Scope, keys: &[SortKey], direction: Direction) -> Fragment {
    let terms = keys.iter().flat_map(|key| {
        let name = Name::from_text(&key.column);
        order_key(
            scope.dialect,
            scope.value(&name),
            read_of(&name),
            key.descending,
        )
    });
    let by_time = match direction {
        Direction::Backward => ["ts DESC", "id DESC"],
        Direction::Forward => ["ts ASC", "id ASC"],
    };
    Fragment::join(terms.chain(by_time.map(Fragment::new)), ", ")
}

/// The ORDER BY of a record search.
pub(crate) fn record_order(dialect: Dialect, query: &Query, direction: Direction) -> Fragment {
    let scope = Scope::after_row_stages(dialect, query);
    order_in_scope(&scope, query.sort_keys(), direction)
}
