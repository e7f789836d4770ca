//! Saving the current query's stored results to a file as NDJSON (`s`):
//! every record of the query over the range, paged from the daemon by a
//! background task that reports its progress.

use logstream_shared::api::SearchParams;

/// Records per page while saving.
pub const SAVE_PAGE: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub struct SaveRequest {
    pub path: String,
    /// The first page's parameters; the next pages follow its cursors.
    pub params: SearchParams,
}

/// How a save goes, as the status line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveProgress {
    pub path: String,
    pub written: u64,
    pub state: SaveState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveState {
    Running,
    Done,
    Failed(String),
}

impl SaveProgress {
    /// The status line's words for it.
    pub fn describe(&self) -> String {
        let written = crate::ui::thousands(self.written);
        match &self.state {
            SaveState::Running => format!("saving {}: {written} records…", self.path),
            SaveState::Done => format!("saved {written} records to {}", self.path),
            SaveState::Failed(reason) => {
                format!(
                    "saving {} stopped after {written} records: {reason}",
                    self.path
                )
            }
        }
    }
}

/// A file name for now: `lstui-20261202-150405.ndjson`.
pub fn default_path(now: chrono::DateTime<chrono::Local>) -> String {
    now.format("lstui-%Y%m%d-%H%M%S.ndjson").to_string()
}
