//! The program's side of `update`'s effects: each runs in a task of its
//! own and answers with an action, so that a slow request never holds up a
//! frame.

use std::time::Duration;

use logstream_shared::api::LogsPage;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::history::{PageAnswer, PageRequest};
use crate::app::{Action, Effect};
use crate::net::{body_error, error_chain};

/// A request that takes longer is reported as failed (a page is asked for
/// again when the view comes back to that edge).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemon's query API, as the effects use it.
#[derive(Clone)]
pub(crate) struct Daemon {
    pub client: reqwest::Client,
    pub server: String,
}

impl Daemon {
    /// `GET path?query`, its JSON body read as `T`; `what` names `T` in errors.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
        what: &str,
    ) -> Result<T, String> {
        let url = format!("{}{path}", self.server.trim_end_matches('/'));
        let response = self
            .client
            .get(&url)
            .query(query)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| error_chain(&e))?;
        if !status.is_success() {
            return Err(format!("the daemon answered {status}{}", body_error(&body)));
        }
        serde_json::from_str(&body).map_err(|e| format!("the daemon's answer is not {what}: {e}"))
    }

    /// Runs one effect; the action it answers with.
    pub(crate) async fn run(self, effect: Effect) -> Action {
        match effect {
            Effect::Page(request) => self.page(request).await,
        }
    }

    async fn page(self, request: PageRequest) -> Action {
        let page: Result<LogsPage, String> = self
            .get("/api/logs", &request.params, "a page of records")
            .await;
        Action::Page(PageAnswer {
            generation: request.generation,
            fetch: request.fetch,
            result: page.map(|page| (page.data, page.next_cursor.is_some())),
        })
    }
}
