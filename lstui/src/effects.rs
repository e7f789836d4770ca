//! The program's side of `update`'s effects: each runs in a task of its
//! own and answers with an action, so that a slow request never holds up a
//! frame.

use std::io::Write as _;

use tokio::sync::mpsc;

use chrono::{DateTime, SecondsFormat, Utc};
use logstream_shared::LogRecord;
use logstream_shared::api::{
    ContextPage, ContextParams, Direction, FacetParams, Facets, FieldList, FieldsParams, Histogram,
    HistogramParams, LogsAnswer, LogsPage,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::Action;
use crate::app::context::{self, ContextAnswer};
use crate::app::effect::Ask;
use crate::app::facets::{self, FacetsAnswer, FacetsRequest, Section};
use crate::app::history::{FindAnswer, FindRequest, PageAnswer, PageRequest, Range};
use crate::app::save::{SaveProgress, SaveRequest, SaveState};
use crate::app::table::TableAnswer;
use crate::app::timeline::{Buckets, TimelineAnswer, TimelineRequest, step_for};
use logstream_client::Client;

/// The daemon's query API, as the effects use it.
#[derive(Clone)]
pub(crate) struct Daemon {
    pub client: Client,
}

impl Daemon {
    /// `GET path` with `query`, its JSON answer; a failure as the status
    /// line says it.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &(impl Serialize + ?Sized),
    ) -> Result<T, String> {
        self.client
            .get(path, query)
            .await
            .map_err(|e| e.to_string())
    }

    /// Asks the daemon one question; the action that answers it.
    pub(crate) async fn run(self, ask: Ask) -> Action {
        match ask {
            Ask::Page(request) => self.page(request).await,
            Ask::Find(request) => self.find(request).await,
            Ask::Timeline(request) => self.timeline(request).await,
            Ask::Facets(request) => Action::Facets(FacetsAnswer {
                generation: request.generation,
                result: self.facets(&request).await,
            }),
            Ask::Table(request) => {
                let answer: Result<LogsAnswer, String> =
                    self.get("/api/logs", &request.params).await;
                let result = answer.and_then(|answer| match answer {
                    LogsAnswer::Table(table) => Ok(table),
                    LogsAnswer::Records(_) => {
                        Err("the daemon answered records, not a table".into())
                    }
                });
                Action::Table(TableAnswer {
                    generation: request.generation,
                    result,
                })
            }
            Ask::Context(request) => Action::Context(ContextAnswer {
                id: request.record.id.clone(),
                result: self.context(&request.record).await,
            }),
        }
    }

    async fn page(self, request: PageRequest) -> Action {
        let page: Result<LogsPage, String> = self.get("/api/logs", &request.params).await;
        Action::Page(PageAnswer {
            generation: request.generation,
            fetch: request.fetch,
            result: page.map(|page| (page.data, page.next_cursor.is_some())),
        })
    }

    async fn find(self, request: FindRequest) -> Action {
        let page: Result<LogsPage, String> = self.get("/api/logs", &request.params).await;
        Action::Found(FindAnswer {
            generation: request.generation,
            seek: request.seek,
            result: page.map(|page| page.data.into_iter().next()),
        })
    }

    async fn timeline(self, request: TimelineRequest) -> Action {
        Action::Timeline(TimelineAnswer {
            generation: request.generation,
            result: self.histogram(&request).await,
        })
    }

    /// The range's histogram in about `columns` buckets; a range with no
    /// start begins at the oldest record the query finds.
    async fn histogram(&self, request: &TimelineRequest) -> Result<Buckets, String> {
        let until = request.range.until.unwrap_or_else(Utc::now);
        let since = match request.range.since {
            Some(since) => Some(since),
            None => self.oldest(&request.query, until).await?,
        };
        let until_ns = nanos(until);
        let Some(since) = since else {
            let empty = Buckets {
                first_ns: until_ns,
                step_ns: 1_000_000_000,
                counts: Vec::new(),
                until_ns,
            };
            return Ok(empty);
        };
        let step_ns = step_for(until_ns.saturating_sub(nanos(since)), request.columns);
        let params = HistogramParams {
            q: Some(request.query.clone()).filter(|q| !q.trim().is_empty()),
            since: Some(rfc3339(since)),
            until: Some(rfc3339(until)),
            step: Some(format!("{}s", step_ns / 1_000_000_000)),
        };
        let histogram: Histogram = self.get("/api/stats/histogram", &params).await?;
        let counts = histogram
            .buckets
            .iter()
            .map(|bucket| {
                let mut counts = [0; 6];
                for (level, n) in &bucket.counts {
                    counts[usize::from(level.as_u8())] = *n;
                }
                counts
            })
            .collect();
        let first_ns = histogram
            .buckets
            .first()
            .map_or(nanos(since), |b| nanos(b.start));
        Ok(Buckets {
            first_ns,
            step_ns,
            counts,
            until_ns,
        })
    }

    /// The time of the oldest record `query` finds before `until`.
    async fn oldest(
        &self,
        query: &str,
        until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let before = Range {
            since: None,
            until: Some(until),
        };
        let params = before.params(query.to_string(), None, Direction::Forward, 1);
        let page: LogsPage = self.get("/api/logs", &params).await?;
        Ok(page.data.first().map(|record| record.timestamp))
    }
}

impl Daemon {
    /// The record fields' top values, then those of the most frequent
    /// attributes.
    async fn facets(&self, request: &FacetsRequest) -> Result<Vec<Section>, String> {
        let q = Some(request.query.clone()).filter(|q| !q.trim().is_empty());
        let since = request.range.since.map(rfc3339);
        let until = request.range.until.map(rfc3339);
        let fields = FieldsParams {
            q: q.clone(),
            since: since.clone(),
            until: until.clone(),
            limit: Some(facets::ATTRIBUTES),
        };
        let attributes: FieldList = self.get("/api/fields", &fields).await?;
        let names = facets::FIELDS
            .iter()
            .map(|name| name.to_string())
            .chain(attributes.fields.iter().map(|f| format!("attr.{}", f.name)));
        let mut sections = Vec::new();
        for field in names {
            let params = FacetParams {
                q: q.clone(),
                since: since.clone(),
                until: until.clone(),
                field: Some(field.clone()),
                limit: Some(facets::VALUES),
            };
            let answer: Facets = self.get("/api/stats/facets", &params).await?;
            let values = answer
                .values
                .into_iter()
                .map(|v| (v.value, v.count))
                .collect();
            sections.push(Section { field, values });
        }
        Ok(sections)
    }
}

impl Daemon {
    async fn context(
        &self,
        record: &LogRecord,
    ) -> Result<(Vec<LogRecord>, LogRecord, Vec<LogRecord>), String> {
        let params = ContextParams {
            before: Some(context::SIDE),
            after: Some(context::SIDE),
            time: Some(rfc3339(record.timestamp)),
        };
        let page: ContextPage = self
            .client
            .context(&record.id, &params)
            .await
            .map_err(|e| e.to_string())?;
        Ok((page.before, page.record, page.after))
    }

    /// Pages through the query's records oldest first into a new file at
    /// `request.path`, telling `tx` how far it got after every page.
    pub(crate) async fn save(self, request: SaveRequest, tx: mpsc::Sender<Action>) {
        let mut progress = SaveProgress {
            path: request.path.clone(),
            written: 0,
            state: SaveState::Running,
        };
        let result = self.save_pages(&request, &mut progress, &tx).await;
        progress.state = match result {
            Ok(()) => SaveState::Done,
            Err(reason) => SaveState::Failed(reason),
        };
        let _ = tx.send(Action::Saving(progress)).await;
    }

    async fn save_pages(
        &self,
        request: &SaveRequest,
        progress: &mut SaveProgress,
        tx: &mpsc::Sender<Action>,
    ) -> Result<(), String> {
        // Never over an existing file: a typo must not destroy one.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&request.path)
            .map_err(|e| format!("cannot create {}: {e}", request.path))?;
        let mut out = std::io::BufWriter::new(file);
        let mut params = request.params.clone();
        loop {
            let page: LogsPage = self.get("/api/logs", &params).await?;
            for record in &page.data {
                let line = serde_json::to_string(record).map_err(|e| e.to_string())?;
                writeln!(out, "{line}").map_err(|e| format!("writing {}: {e}", request.path))?;
            }
            progress.written += page.data.len() as u64;
            let _ = tx.send(Action::Saving(progress.clone())).await;
            match page.next_cursor {
                Some(cursor) if !page.data.is_empty() => params.cursor = Some(cursor),
                _ => break,
            }
        }
        out.flush()
            .map_err(|e| format!("writing {}: {e}", request.path))
    }
}

fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}
