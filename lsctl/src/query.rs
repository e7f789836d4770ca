//! `lsctl query`: search, page through results, print them (see `output`).

use std::io::Write;

use chrono::{DateTime, Utc};
use logstream_shared::api::{LogsAnswer, MAX_PAGE_SIZE, SearchParams};
use logstream_shared::query::{self, Comparison, Field, Filter, LevelFilter, Output, Test};
use logstream_shared::time::parse_time_bound;
use logstream_shared::{Level, LogRecord, Query};

use crate::cli::{FilterArgs, QueryArgs};
use crate::client::Client;
use crate::context::{Around, ContextPrinter};
use crate::output::{self, Printer};
use crate::{Failure, table, usage};

// Shared with `stats`, which predates the output module.
pub(crate) use crate::output::{DIM, column_width};

/// The positional arguments as one query, or a usage error pointing at the mistake.
pub(crate) fn parse_arguments(words: &[String]) -> Result<Query, Failure> {
    let text = words.join(" ");
    query::parse(&text).map_err(|e| usage(format!("{e}\n{}", e.pointer(&text))))
}

/// The query the filter flags and arguments describe, checked locally so that
/// a mistake is pointed at before anything is sent.
pub(crate) fn build_query(args: &FilterArgs) -> Result<String, Failure> {
    let mut query = parse_arguments(&args.query)?;
    let field = |flag: &str, field: Field, values: &[String]| {
        if values.iter().any(|s| s.is_empty()) {
            let what = field.name();
            return Err(usage(format!("--{flag}: a {what} name must not be empty")));
        }
        Ok((!values.is_empty()).then(|| Filter::Field {
            field,
            test: Test::AnyOf(values.to_vec()),
        }))
    };
    let fields = [
        field("service", Field::Service, &args.service)?,
        field("host", Field::Host, &args.host)?,
    ];
    for filter in fields.into_iter().flatten() {
        query.push(filter);
    }
    let level = |flag: &str, text: &str| -> Result<Level, Failure> {
        text.parse().map_err(|e| usage(format!("--{flag}: {e}")))
    };
    if let Some(text) = &args.level {
        let level = level("level", text)?;
        query.push(Filter::Level(LevelFilter::AnyOf(vec![level])));
    }
    if let Some(text) = &args.min_level {
        let level = level("min-level", text)?;
        query.push(Filter::Level(LevelFilter::Compare(
            Comparison::GreaterOrEqual,
            level,
        )));
    }
    for pair in &args.attr {
        query.push(attribute(pair)?);
    }
    for text in &args.text {
        if text.is_empty() {
            return Err(usage("--text must not be empty"));
        }
        query.push(Filter::Text(text.clone()));
    }
    Ok(query.to_string())
}

/// `--attr KEY=VALUE` as a filter, if the query language can say it.
fn attribute(pair: &str) -> Result<Filter, Failure> {
    let Some((key, value)) = pair.split_once('=') else {
        return Err(usage(format!(
            "--attr \"{pair}\": expected KEY=VALUE, like --attr user_id=42"
        )));
    };
    let filter = Filter::Attribute {
        key: key.to_string(),
        test: Test::AnyOf(vec![value.to_string()]),
    };
    // The key is printed into the query: it must parse back as itself.
    let mut alone = Query::all();
    alone.push(filter.clone());
    if query::parse(&alone.to_string()).as_ref() != Ok(&alone) {
        return Err(usage(format!(
            "--attr \"{pair}\": \"{key}\" cannot be an attribute key here; keys are letters, \
             digits, _ . - (for a key like a field's name, --attr attr.host=… also works)"
        )));
    }
    Ok(filter)
}

/// `--since`/`--until` as RFC 3339 (relative times resolved here), checked.
pub(crate) fn time_bound(flag: &str, value: &Option<String>) -> Result<Option<String>, Failure> {
    value
        .as_deref()
        .map(|text| {
            parse_time_bound(text, Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .map_err(|e| usage(format!("--{flag}: {e}")))
        })
        .transpose()
}

pub(crate) async fn query(client: &Client, args: QueryArgs) -> Result<(), Failure> {
    let columns = output::columns(args.output, &args.fields)?;
    let q = build_query(&args.filter)?;
    let table = matches!(query::parse(&q).map(|q| q.output()), Ok(Output::Table(_)));
    let params = SearchParams {
        q: Some(q),
        since: time_bound("since", &args.since)?,
        until: time_bound("until", &args.until)?,
        ..SearchParams::default()
    };
    let around = Around::of(&args)?;
    if table {
        if around.is_some() {
            return Err(usage(
                "-C, -A and -B show the records around matching records; a table has none",
            ));
        }
        return print_table(client, params, &args).await;
    }
    let printer = Printer::new(output::stdout(args.output), args.output, columns, args.utc);
    let limit = (!args.all).then_some(args.limit);
    match around {
        None => list(client, params, limit, args.reverse, printer).await,
        Some(around) => {
            let printer = ContextPrinter::new(client, around, !args.reverse, printer);
            list(client, params, limit, args.reverse, printer).await
        }
    }
}

/// Where the pages of a search go: printed as they are, or each record
/// with its context (`-C`).
trait Listing {
    async fn show(&mut self, records: &[LogRecord]) -> Result<(), Failure>;

    /// Closes what the output format opened, and flushes.
    fn finish(&mut self) -> std::io::Result<()>;
}

impl<W: Write> Listing for Printer<W> {
    async fn show(&mut self, records: &[LogRecord]) -> Result<(), Failure> {
        Ok(self.page(records)?)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Printer::finish(self)
    }
}

impl<W: Write> Listing for ContextPrinter<'_, W> {
    async fn show(&mut self, records: &[LogRecord]) -> Result<(), Failure> {
        self.page(records).await
    }

    fn finish(&mut self) -> std::io::Result<()> {
        ContextPrinter::finish(self)
    }
}

/// Every page of the search into `listing`, in the order asked for.
async fn list(
    client: &Client,
    params: SearchParams,
    limit: Option<usize>,
    reverse: bool,
    mut listing: impl Listing,
) -> Result<(), Failure> {
    if reverse {
        oldest_first(client, params, limit, &mut listing).await?;
    } else {
        newest_first(client, params, limit, &mut listing).await?;
    }
    Ok(listing.finish()?)
}

/// A `stats`, `top` or `fields` query's table, in one answer. `--limit`
/// caps its rows only when given (a query's own `| limit` says it too).
async fn print_table(
    client: &Client,
    mut params: SearchParams,
    args: &QueryArgs,
) -> Result<(), Failure> {
    if args.limit != crate::cli::DEFAULT_LIMIT {
        params.limit = Some(args.limit.min(MAX_PAGE_SIZE));
    }
    let LogsAnswer::Table(page) = client.answer(&params).await? else {
        return Err(Failure::Server(anyhow::anyhow!(
            "the daemon answered a table query with records; is it older than this lsctl?"
        )));
    };
    let mut out = output::stdout(args.output);
    table::print(&mut out, args.output, &page)?;
    out.flush()?;
    if page.truncated {
        eprintln!(
            "lsctl: the table has more than {} rows; add | limit N or --limit to choose how many",
            page.result
        );
    }
    Ok(())
}

/// The API's order: each page is printed as it arrives, so memory stays at
/// one page however many records there are.
async fn newest_first(
    client: &Client,
    mut params: SearchParams,
    limit: Option<usize>,
    listing: &mut impl Listing,
) -> Result<(), Failure> {
    let mut remaining = limit.unwrap_or(usize::MAX);
    while remaining > 0 {
        params.limit = Some(remaining.min(MAX_PAGE_SIZE));
        let page = client.search(&params).await?;
        remaining -= page.data.len().min(remaining);
        listing.show(&page.data).await?;
        match page.next_cursor {
            Some(cursor) if !page.data.is_empty() => params.cursor = Some(cursor),
            _ => break,
        }
    }
    Ok(())
}

/// Where a record sorts in the API's order (newest first: time, then id,
/// both descending): a greater key comes earlier.
type Key = (DateTime<Utc>, String);

fn key(record: &LogRecord) -> Key {
    (record.timestamp, record.id.clone())
}

/// One page of the first pass: the cursor that fetches it and the keys of its
/// first (newest) and last (oldest) record.
struct PageMark {
    cursor: Option<String>,
    newest: Key,
    oldest: Key,
}

/// `--reverse`: the same records as `newest_first` would print (the newest
/// `limit`, or all), oldest first.
///
/// The API only pages newest first (keyset cursors on time and id), and
/// collecting everything to reverse it would take memory in proportion to the
/// result. Instead:
/// 1. Walk the pages newest first as usual but keep only a mark per page (its
///    cursor and the keys of its first and last record): about 100 bytes per
///    10,000 records. The last page walked, the oldest, stays in memory.
/// 2. Print that page reversed, then fetch the marked pages again from the
///    oldest to the newest, each with its own cursor, and print each reversed.
///
/// Memory stays at about one page; the price is reading the records twice
/// when there is more than one page (a single page is read once). Records
/// stored between the passes could shift the pages, so the second pass keeps
/// only records between a page's marked keys, and reads on past a page's
/// end until its oldest mark: nothing is printed twice or out of order, and
/// records stored after the first pass began are not printed, as without
/// `--reverse`.
async fn oldest_first(
    client: &Client,
    mut params: SearchParams,
    limit: Option<usize>,
    listing: &mut impl Listing,
) -> Result<(), Failure> {
    let mut marks: Vec<PageMark> = Vec::new();
    let mut last_page: Vec<LogRecord> = Vec::new();
    let mut remaining = limit.unwrap_or(usize::MAX);
    while remaining > 0 {
        params.limit = Some(remaining.min(MAX_PAGE_SIZE));
        let cursor = params.cursor.clone();
        let page = client.search(&params).await?;
        let (Some(newest), Some(oldest)) = (page.data.first(), page.data.last()) else {
            break;
        };
        remaining -= page.data.len().min(remaining);
        marks.push(PageMark {
            cursor,
            newest: key(newest),
            oldest: key(oldest),
        });
        last_page = page.data;
        match page.next_cursor {
            Some(next) => params.cursor = Some(next),
            None => break,
        }
    }
    // The oldest page is still here.
    if marks.pop().is_some() {
        last_page.reverse();
        listing.show(&last_page).await?;
        drop(last_page);
    }
    while let Some(mark) = marks.pop() {
        let mut records = Vec::new();
        params.cursor = mark.cursor;
        'page: loop {
            params.limit = Some(MAX_PAGE_SIZE);
            let page = client.search(&params).await?;
            if page.data.is_empty() {
                break;
            }
            for record in page.data {
                let k = key(&record);
                if k < mark.oldest {
                    break 'page;
                }
                if k <= mark.newest {
                    records.push(record);
                }
            }
            match page.next_cursor {
                Some(next) => params.cursor = Some(next),
                None => break,
            }
        }
        records.reverse();
        listing.show(&records).await?;
    }
    Ok(())
}
