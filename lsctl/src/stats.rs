//! `lsctl stats`: the log rate as a bar chart and the top values of a few
//! fields, from the daemon's histogram and facets endpoints.

use std::io::Write;

use anstyle::{Effects, Style};
use chrono::Local;
use logstream_shared::Level;
use logstream_shared::api::{FacetParams, FacetValue, Facets, Histogram, HistogramParams};

use crate::Failure;
use crate::cli::{StatsArgs, StatsFormat};
use crate::client::Client;
use crate::output::printable;
use crate::query::{DIM, column_width, parse_arguments, time_bound};

/// Columns of the rate chart, at most: wider histograms are summed down.
const MAX_COLUMNS: usize = 100;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const BOLD: Style = Style::new().effects(Effects::BOLD);

pub(crate) async fn stats(client: &Client, args: StatsArgs) -> Result<(), Failure> {
    let q = Some(parse_arguments(&args.query)?.to_string());
    let since = time_bound("since", &args.since)?;
    let until = time_bound("until", &args.until)?;
    let histogram_params = HistogramParams {
        q: q.clone(),
        since: since.clone(),
        until: until.clone(),
        step: args.step,
    };
    let histogram: Histogram = client
        .get("/api/stats/histogram", &histogram_params)
        .await?;
    let mut top = Vec::new();
    for (field, limit) in [
        ("service", args.top),
        ("level", Level::ALL.len()),
        ("host", args.top),
    ] {
        let params = FacetParams {
            q: q.clone(),
            since: since.clone(),
            until: until.clone(),
            field: Some(field.into()),
            limit: Some(limit.max(1)),
        };
        let facets: Facets = client.get("/api/stats/facets", &params).await?;
        top.push(facets);
    }

    let stdout = anstream::stdout();
    let mut out = stdout.lock();
    match args.output {
        StatsFormat::Json => {
            let report = serde_json::json!({ "histogram": histogram, "top": top });
            serde_json::to_writer(&mut out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        StatsFormat::Text => {
            rate_chart(&mut out, &histogram)?;
            for facets in &top {
                top_list(&mut out, &facets.field, &facets.values)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn rate_chart(out: &mut impl Write, histogram: &Histogram) -> std::io::Result<()> {
    let (Some(first), Some(last)) = (histogram.buckets.first(), histogram.buckets.last()) else {
        return writeln!(out, "no time range");
    };
    let per_column = histogram.buckets.len().div_ceil(MAX_COLUMNS);
    let columns: Vec<u64> = histogram
        .buckets
        .chunks(per_column)
        .map(|c| c.iter().map(|b| b.total).sum())
        .collect();
    let max = columns.iter().copied().max().unwrap_or(0);
    let total: u64 = histogram.buckets.iter().map(|b| b.total).sum();
    let time = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    writeln!(
        out,
        "{BOLD}{total}{BOLD:#} logs from {} to {}, {DIM}one bar per {}{DIM:#}",
        time(first.start),
        time(last.start),
        if per_column == 1 {
            histogram.step.clone()
        } else {
            format!("{per_column} × {}", histogram.step)
        }
    )?;
    let chart: String = columns
        .iter()
        .map(|&n| match n {
            0 => ' ',
            n => {
                BARS[((n * BARS.len() as u64).div_ceil(max.max(1)) as usize).clamp(1, BARS.len())
                    - 1]
            }
        })
        .collect();
    writeln!(out, "{chart}")?;
    writeln!(out, "{DIM}peak {max} per bar{DIM:#}")
}

fn top_list(out: &mut impl Write, field: &str, values: &[FacetValue]) -> std::io::Result<()> {
    writeln!(out, "\n{BOLD}{field}{BOLD:#}")?;
    if values.is_empty() {
        return writeln!(out, "  {DIM}(none){DIM:#}");
    }
    let shown: Vec<_> = values.iter().map(|v| printable(&v.value)).collect();
    let width = column_width(shown.iter().map(|v| v.as_ref()), 32);
    let max = values.iter().map(|v| v.count).max().unwrap_or(1).max(1);
    for (v, value) in values.iter().zip(&shown) {
        let bar = "█".repeat(((v.count * 30).div_ceil(max)) as usize);
        writeln!(out, "  {:<width$} {:>10} {DIM}{bar}{DIM:#}", value, v.count)?;
    }
    Ok(())
}
