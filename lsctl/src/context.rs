//! `lsctl query -C/-A/-B`: each match with its neighbours from the same
//! service (and host), like `grep -C`, from `GET /api/logs/{id}/context`.

use std::collections::HashSet;
use std::io::Write;

use futures::{StreamExt, TryStreamExt, stream};
use logstream_shared::LogRecord;
use logstream_shared::api::{ContextPage, ContextParams, MAX_CONTEXT};

use crate::cli::QueryArgs;
use crate::client::Client;
use crate::output::Printer;
use crate::{Failure, usage};

/// Context requests in flight at once, answered in the order of the hits.
const CONCURRENT_REQUESTS: usize = 8;

/// How many records to show on each side of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Around {
    pub(crate) before: usize,
    pub(crate) after: usize,
}

impl Around {
    /// `-B`/`-A` each override `-C` on their side; `None` without any of them.
    pub(crate) fn of(args: &QueryArgs) -> Result<Option<Around>, Failure> {
        let before = args.before_context.or(args.context);
        let after = args.after_context.or(args.context);
        for (flag, n) in [("-B", before), ("-A", after)] {
            if n.is_some_and(|n| n > MAX_CONTEXT) {
                return Err(usage(format!(
                    "{flag}/-C: at most {MAX_CONTEXT} records of context on a side"
                )));
            }
        }
        if before.is_none() && after.is_none() {
            return Ok(None);
        }
        Ok(Some(Around {
            before: before.unwrap_or(0),
            after: after.unwrap_or(0),
        }))
    }
}

/// Prints pages of matches, each in a group with its context, in the order
/// of the listing (newest first unless `--reverse`).
pub(crate) struct ContextPrinter<'a, W: Write> {
    client: &'a Client,
    around: Around,
    newest_first: bool,
    printer: Printer<W>,
    /// The ids of the group printed last and of the records just past its
    /// edges: a group that holds one of them continues it, without a
    /// separator, as `grep` joins groups that touch.
    last_group: HashSet<String>,
}

/// A match's group in the order of the listing, and the records just past
/// its two ends (fetched only to tell whether the next group touches it).
struct Group {
    records: Vec<LogRecord>,
    edges: Vec<LogRecord>,
}

impl<'a, W: Write> ContextPrinter<'a, W> {
    pub(crate) fn new(
        client: &'a Client,
        around: Around,
        newest_first: bool,
        printer: Printer<W>,
    ) -> ContextPrinter<'a, W> {
        ContextPrinter {
            client,
            around,
            newest_first,
            printer: printer.marking_hits(),
            last_group: HashSet::new(),
        }
    }

    /// One page of matches. A record is printed once per page, even when
    /// the context of several matches holds it, and marked as a hit when
    /// it is one of the page's matches.
    pub(crate) async fn page(&mut self, hits: &[LogRecord]) -> Result<(), Failure> {
        let hit_ids: HashSet<&str> = hits.iter().map(|r| r.id.as_str()).collect();
        let contexts: Vec<ContextPage> = stream::iter(hits)
            .map(|hit| self.fetch(hit))
            .buffered(CONCURRENT_REQUESTS)
            .try_collect()
            .await?;
        let mut printed: HashSet<String> = HashSet::new();
        for context in contexts {
            let Group { records, edges } = self.group(context);
            let touches = records.iter().any(|r| self.last_group.contains(&r.id));
            let fresh: Vec<(&LogRecord, bool)> = records
                .iter()
                .filter(|r| !printed.contains(&r.id))
                .map(|r| (r, hit_ids.contains(r.id.as_str())))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            // Nothing printed yet: no group to separate from.
            if !self.last_group.is_empty() && !touches {
                self.printer.separator()?;
            }
            self.printer.group(&fresh)?;
            printed.extend(fresh.iter().map(|(r, _)| r.id.clone()));
            self.last_group = records.into_iter().chain(edges).map(|r| r.id).collect();
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.printer.finish()
    }

    async fn fetch(&self, hit: &LogRecord) -> Result<ContextPage, Failure> {
        let one_more = |n: usize| Some((n + 1).min(MAX_CONTEXT));
        let params = ContextParams {
            before: one_more(self.around.before),
            after: one_more(self.around.after),
            // Found by time, the record is read from one block of the store.
            time: Some(
                hit.timestamp
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            ),
        };
        Ok(self.client.context(&hit.id, &params).await?)
    }

    /// The context asked for one record more on each side than is shown:
    /// that one, when there is one, is an edge.
    fn group(&self, context: ContextPage) -> Group {
        let ContextPage {
            mut before,
            record,
            mut after,
            ..
        } = context;
        let mut edges = Vec::new();
        if before.len() > self.around.before {
            edges.push(before.remove(0));
        }
        if after.len() > self.around.after {
            edges.extend(after.pop());
        }
        let mut records = before;
        records.push(record);
        records.extend(after);
        if self.newest_first {
            records.reverse();
        }
        Group { records, edges }
    }
}
