//! History's pages: `GET /api/logs`, run for `update`'s page requests in
//! tasks of their own, so that a slow page never holds up a frame.

use std::time::Duration;

use logstream_shared::api::LogsPage;

use crate::app::Action;
use crate::app::history::{PageAnswer, PageRequest};
use crate::net::{body_error, error_chain};

/// A page that takes longer is reported as failed (and asked for again
/// when the view comes back to that edge).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches one page and answers with the action that delivers it.
pub(crate) async fn fetch(client: reqwest::Client, server: String, request: PageRequest) -> Action {
    let url = format!("{}/api/logs", server.trim_end_matches('/'));
    let result = async {
        let response = client
            .get(&url)
            .query(&request.params)
            .timeout(PAGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| error_chain(&e))?;
        if !status.is_success() {
            return Err(format!("the daemon answered {status}{}", body_error(&body)));
        }
        let page: LogsPage = serde_json::from_str(&body)
            .map_err(|e| format!("the daemon's page is not a page of records: {e}"))?;
        Ok((page.data, page.next_cursor.is_some()))
    }
    .await;
    Action::Page(PageAnswer {
        generation: request.generation,
        fetch: request.fetch,
        result,
    })
}
