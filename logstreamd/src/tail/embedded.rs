//! The live tail of the embedded store: history by `seq` from DuckDB, then
//! the batches the writer publishes as it commits them.
//!
//! No gap: the subscription starts before history is read, so a batch
//! committed meanwhile is in one or the other. No duplicate: every record
//! at or below the last `seq` sent is skipped. A client that cannot keep up
//! fills its buffer, the feed moves past it, and it is told `Lagged`.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use logstream_shared::Query;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{CLIENT_BUFFER, Tail, TailError, TailItem, TailStart};
use crate::store::Selection;
use crate::store::duckdb::{Committed, DuckDbStore};

/// History is read in pages of this many records.
const HISTORY_PAGE: usize = 1000;

#[derive(Debug)]
pub struct EmbeddedTail {
    store: DuckDbStore,
}

impl EmbeddedTail {
    pub(crate) fn new(store: DuckDbStore) -> EmbeddedTail {
        EmbeddedTail { store }
    }
}

fn cursor(seq: i64) -> String {
    format!("e{seq}")
}

fn parse_cursor(text: &str) -> Option<i64> {
    text.strip_prefix('e')?.parse().ok().filter(|seq| *seq >= 0)
}

#[async_trait]
impl Tail for EmbeddedTail {
    async fn follow(
        &self,
        query: Query,
        start: TailStart,
    ) -> Result<BoxStream<'static, TailItem>, TailError> {
        // Subscribed before history is read: see the module comment.
        let (live, last_seq) = self
            .store
            .subscribe()
            .await
            .map_err(|e| TailError::Unavailable(e.to_string()))?;
        let after = match &start {
            TailStart::Now => last_seq,
            TailStart::Since(_) => 0,
            // A number not given out yet is from another database.
            TailStart::After { cursor, .. } => parse_cursor(cursor)
                .filter(|seq| *seq <= last_seq)
                .ok_or_else(|| TailError::BadCursor(cursor.clone()))?,
        };
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        let selection = Selection {
            query,
            since_ns: start.since_ns(),
            until_ns: None,
        };
        tokio::spawn(feed(self.store.clone(), selection, after, live, tx));
        Ok(ReceiverStream::new(rx).boxed())
    }
}

/// Sends history after `last`, then live batches, until the client goes.
async fn feed(
    store: DuckDbStore,
    selection: Selection,
    mut last: i64,
    mut live: tokio::sync::broadcast::Receiver<std::sync::Arc<[Committed]>>,
    tx: mpsc::Sender<TailItem>,
) {
    if !send_history(&store, &selection, &mut last, None, &tx).await {
        return;
    }
    let matcher = selection.matcher();
    loop {
        let received = tokio::select! {
            received = live.recv() => received,
            () = tx.closed() => return,
        };
        match received {
            Ok(batch) => {
                // Commits are numbered without gaps, so a batch starting
                // further on means some were not published to this
                // subscriber (it subscribed while they were being
                // committed): fetch those from the store first.
                if let Some(first) = batch.first()
                    && first.seq > last + 1
                    && !send_history(&store, &selection, &mut last, Some(first.seq), &tx).await
                {
                    return;
                }
                for committed in batch.iter() {
                    if committed.seq <= last {
                        continue;
                    }
                    last = committed.seq;
                    if matcher.matches(&committed.record) && tx.send(item(committed)).await.is_err()
                    {
                        return;
                    }
                }
            }
            Err(RecvError::Lagged(_)) => {
                let _ = tx
                    .send(TailItem::Lagged {
                        resume: Some(cursor(last)),
                    })
                    .await;
                return;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn item(committed: &Committed) -> TailItem {
    TailItem::Record {
        cursor: cursor(committed.seq),
        record: committed.record.clone(),
    }
}

/// Sends the stored, selected records after `last` (and before `below`),
/// moving `last` on; false once the client has gone or the store failed.
async fn send_history(
    store: &DuckDbStore,
    selection: &Selection,
    last: &mut i64,
    below: Option<i64>,
    tx: &mpsc::Sender<TailItem>,
) -> bool {
    loop {
        let page = match store
            .committed_after(selection.clone(), *last, HISTORY_PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "live tail: cannot read history");
                return false;
            }
        };
        let mut page = page
            .into_iter()
            .take_while(|c| below.is_none_or(|below| c.seq < below))
            .peekable();
        if page.peek().is_none() {
            if let Some(below) = below {
                // Everything before `below` is now accounted for.
                *last = (*last).max(below - 1);
            }
            return true;
        }
        for committed in page {
            *last = committed.seq;
            if tx.send(item(&committed)).await.is_err() {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(parse_cursor(&cursor(42)), Some(42));
        assert_eq!(parse_cursor("e-1"), None);
        assert_eq!(parse_cursor("k:0=1"), None);
        assert_eq!(parse_cursor("42"), None);
    }
}
