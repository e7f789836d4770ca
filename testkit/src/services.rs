//! The real Kafka-compatible broker and ClickHouse server that
//! `scripts/services start` runs for the full suite (`scripts/test`).
//!
//! Tests that need them are `#[ignore]`d so that plain `cargo test` runs
//! everything that needs no service; `scripts/test` runs them all with
//! `--include-ignored`, and these functions fail loudly when the services'
//! settings are missing rather than letting a test pass without them.

use std::sync::atomic::{AtomicU32, Ordering};

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the real services; run scripts/test (it starts them)")
    })
}

/// The broker's `HOST:PORT`.
pub fn kafka() -> String {
    setting("LOGSTREAM_TEST_KAFKA")
}

/// The ClickHouse server's HTTP base URL with credentials, `http://USER:PASS@HOST:PORT`.
pub fn clickhouse() -> String {
    setting("LOGSTREAM_TEST_CLICKHOUSE")
}

/// A store URL for a database of its own on the test ClickHouse server.
pub fn clickhouse_store_url(database: &str) -> String {
    let base = clickhouse();
    let rest = base.strip_prefix("http://").unwrap_or(&base);
    format!("clickhouse://{rest}/{database}")
}

/// A name no other test of any run uses (databases, topics, groups).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// Runs SQL on the test ClickHouse server over HTTP; returns the response text.
pub async fn clickhouse_sql(sql: &str) -> String {
    let response = reqwest::Client::new()
        .post(clickhouse())
        .body(sql.to_string())
        .send()
        .await
        .expect("ClickHouse is reachable");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "ClickHouse said {status}: {text}\nfor: {sql}"
    );
    text
}
