//! Printing the table a query with `stats`, `top` or `fields` answers with:
//! aligned for people, JSON, NDJSON, CSV or logfmt for scripts; control
//! characters escaped in all but JSON (see `output::printable`).

use std::io::{self, Write};

use logstream_shared::api::TablePage;
use logstream_shared::query::ColumnKind;
use serde_json::Value;

use crate::cli::OutputFormat;
use crate::output::{
    DIM, column_width, logfmt_key, logfmt_value, printable, printable_keeping_tabs,
};

/// The widest a text column gets before its values are cut.
const MAX_TEXT_WIDTH: usize = 60;

pub(crate) fn print(
    out: &mut impl Write,
    format: OutputFormat,
    table: &TablePage,
) -> io::Result<()> {
    match format {
        OutputFormat::Text => text(out, table),
        OutputFormat::Json => {
            let objects: Vec<Value> = table.rows.iter().map(|row| object(table, row)).collect();
            serde_json::to_writer_pretty(&mut *out, &objects)?;
            writeln!(out)
        }
        OutputFormat::Ndjson => table.rows.iter().try_for_each(|row| {
            serde_json::to_writer(&mut *out, &object(table, row))?;
            writeln!(out)
        }),
        OutputFormat::Csv => csv(out, table),
        OutputFormat::Logfmt => table.rows.iter().try_for_each(|row| {
            let mut line = String::new();
            for (column, value) in table.columns.iter().zip(row) {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&logfmt_key(&column.name));
                line.push('=');
                logfmt_value(&mut line, &plain(value));
            }
            writeln!(out, "{line}")
        }),
        // The first column's values, one a line.
        OutputFormat::Raw => table.rows.iter().try_for_each(|row| {
            let value = row.first().map(plain).unwrap_or_default();
            writeln!(out, "{}", printable_keeping_tabs(&value))
        }),
    }
}

/// A value as text: strings bare, null empty.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn object(table: &TablePage, row: &[Value]) -> Value {
    let fields = table
        .columns
        .iter()
        .zip(row)
        .map(|(column, value)| (column.name.clone(), value.clone()));
    Value::Object(fields.collect())
}

/// Numbers right-aligned, text left-aligned; a header in dim.
fn text(out: &mut impl Write, table: &TablePage) -> io::Result<()> {
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| row.iter().map(display).collect())
        .collect();
    let widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let values = cells.iter().map(|row| row[i].as_str());
            column_width(values.chain([column.name.as_str()]), MAX_TEXT_WIDTH)
        })
        .collect();
    let numeric = |i: usize| {
        matches!(
            table.columns[i].kind,
            ColumnKind::Integer | ColumnKind::Float
        )
    };
    let line = |values: &[String]| {
        let parts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let v = cut(v, widths[i]);
                if numeric(i) {
                    format!("{v:>width$}", width = widths[i])
                } else {
                    format!("{v:<width$}", width = widths[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let header: Vec<String> = table
        .columns
        .iter()
        .map(|c| printable(&c.name).into_owned())
        .collect();
    writeln!(out, "{DIM}{}{DIM:#}", line(&header))?;
    for row in &cells {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// Floats with at most 3 decimals, for reading; null as `-`.
fn display(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let text = format!("{x:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        other => printable(&plain(other)).into_owned(),
    }
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn csv(out: &mut impl Write, table: &TablePage) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record(
            table
                .columns
                .iter()
                .map(|c| printable(&c.name))
                .collect::<Vec<_>>()
                .iter()
                .map(|c| c.as_bytes()),
        )
        .map_err(io::Error::other)?;
    for row in &table.rows {
        writer
            .write_record(row.iter().map(|v| printable(&plain(v)).into_owned()))
            .map_err(io::Error::other)?;
    }
    writer.flush()
}
