//! A table query in the filter bar (`| stats`, `| top`, `| fields`): the
//! daemon computes it over the range (history's, or the one lstui was
//! started with), and the log list shows the table instead of records.

use logstream_shared::api::{SearchParams, TablePage};

#[derive(Debug, Clone, PartialEq)]
pub struct TableRequest {
    pub generation: u64,
    pub params: SearchParams,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableAnswer {
    pub generation: u64,
    pub result: Result<TablePage, String>,
}

/// The table on screen: the query it answers, and the answer once here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableView {
    pub generation: u64,
    pub query: String,
    pub answer: Option<Result<TablePage, String>>,
    /// The first row shown (↑↓ scroll the table).
    pub offset: usize,
}

impl TableView {
    pub fn receive(&mut self, answer: TableAnswer) {
        if answer.generation == self.generation {
            self.answer = Some(answer.result);
            self.offset = 0;
        }
    }

    pub fn rows(&self) -> usize {
        match &self.answer {
            Some(Ok(page)) => page.rows.len(),
            _ => 0,
        }
    }
}
