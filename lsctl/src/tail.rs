//! `lsctl tail`: follow the daemon's live tail, print each record as it
//! arrives, and reconnect from the last record on any interruption (the
//! daemon restarting, the network, falling behind) so nothing is missed or
//! printed twice.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use logstream_client::{Backoff, TailEvent};
use logstream_shared::api::TailParams;

use crate::cli::{OutputFormat, TailArgs};
use crate::client::{ApiFailure, Client};
use crate::output::{self, Printer};
use crate::query::{build_query, time_bound};
use crate::{Failure, usage};

/// Waits between reconnections: from the first up to the last, doubling.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_LAST: Duration = Duration::from_secs(10);

pub(crate) async fn tail(client: &Client, args: TailArgs) -> Result<(), Failure> {
    if args.output == OutputFormat::Json {
        return Err(usage(
            "--output json prints one array, which a stream never closes; use ndjson",
        ));
    }
    let columns = output::columns(args.output, &args.fields)?;
    let q = build_query(&args.filter)?;
    if logstream_shared::query::parse(&q).is_ok_and(|q| !q.stages.is_empty()) {
        return Err(usage(
            "tail streams records as they arrive, but pipes (| stats, | top …) need a finished \
             set of records; run them with lsctl query (with --since for a time range)",
        ));
    }
    let since = time_bound("since", &args.since)?;
    let mut printer = Printer::new(output::stdout(args.output), args.output, columns, args.utc);
    let mut printed = 0;
    let mut last_id: Option<String> = None;
    let mut backoff = Backoff::new(RECONNECT_FIRST, RECONNECT_LAST);
    loop {
        let params = TailParams {
            q: Some(q.clone()),
            // Once resuming, the cursor says where.
            since: since.clone().filter(|_| last_id.is_none()),
            cursor: None,
        };
        let (reason, retry_after) = match client.tail(&params, last_id.as_deref()).await {
            Ok(response) => {
                backoff.reset();
                let mut events = response.bytes_stream().eventsource();
                loop {
                    let event = match events.next().await {
                        Some(Ok(event)) => TailEvent::of(event),
                        Some(Err(e)) => break (format!("the stream broke: {e}"), None),
                        None => break ("the daemon closed the stream".to_string(), None),
                    };
                    match event {
                        TailEvent::Record { id, record } => {
                            let record = record.map_err(|e| {
                                Failure::Server(anyhow::anyhow!("bad record from the daemon: {e}"))
                            })?;
                            printer.record(&record)?;
                            last_id = Some(id);
                            printed += 1;
                            if args.count.is_some_and(|count| printed >= count) {
                                return Ok(());
                            }
                        }
                        TailEvent::Lagged { resume } => {
                            // Before its first record a client has no cursor of its own.
                            last_id = last_id.or(resume);
                            break ("fell behind the daemon's live feed".to_string(), None);
                        }
                        TailEvent::Other => {}
                    }
                }
            }
            Err(failure @ ApiFailure::Rejected { .. }) => return Err(failure.into()),
            Err(ApiFailure::Retryable {
                reason,
                retry_after,
            }) => (reason, retry_after),
        };
        let wait = backoff.wait(retry_after);
        eprintln!("lsctl: {reason}; reconnecting in {wait:.1?}");
        tokio::time::sleep(wait).await;
    }
}
