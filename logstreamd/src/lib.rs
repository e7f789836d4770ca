//! The LogStream daemon: HTTP API → ingest pipeline → store.

pub mod api;
pub mod config;
pub mod ingest;
pub mod store;

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::api::auth::Tokens;
use crate::api::{AppState, HttpLimits};
pub use crate::config::Config;
use crate::ingest::{DirectSink, DirectSinkConfig, Sink};

/// Runs the daemon until SIGINT or SIGTERM, then drains: the listener stops,
/// requests in flight are committed and answered, and the store is closed.
pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).context("bad --log filter")?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // A body that could never fit would be told to retry forever.
    let largest_body_memory = config
        .max_body_bytes
        .saturating_mul(api::MEMORY_PER_BODY_BYTE);
    anyhow::ensure!(
        config.max_ingest_memory >= largest_body_memory,
        "--max-ingest-memory ({}) must be at least {} times --max-body-bytes ({}), so that the largest body fits",
        config.max_ingest_memory,
        api::MEMORY_PER_BODY_BYTE,
        config.max_body_bytes
    );
    anyhow::ensure!(
        config.max_pending_records > 0,
        "--max-pending-records must be at least 1"
    );
    anyhow::ensure!(
        config.max_ingest_memory <= tokio::sync::Semaphore::MAX_PERMITS,
        "--max-ingest-memory must be at most {}",
        tokio::sync::Semaphore::MAX_PERMITS
    );

    // Before the store is opened: a bad tokens file is a mistake to fix first.
    let tokens = Tokens::load(config.tokens_file.as_deref(), config.tokens.as_ref())?;

    let store_url = config.store_url();
    let store = store::open(&store_url)
        .await
        .with_context(|| format!("cannot open the store {store_url}"))?;
    let sink: Arc<dyn Sink> = Arc::new(DirectSink::start(
        Arc::clone(&store),
        DirectSinkConfig {
            max_pending_records: config.max_pending_records,
            ..DirectSinkConfig::default()
        },
    ));
    let state = AppState {
        store: Arc::clone(&store),
        sink: Arc::clone(&sink),
        limits: HttpLimits {
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
        },
        ingest_memory: Arc::new(tokio::sync::Semaphore::new(config.max_ingest_memory)),
        tokens: tokens.clone(),
    };

    let mut signals = count_stop_signals().context("installing signal handlers")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if !tokens.is_empty() {
        tracing::info!("access control: tokens required ({})", tokens.summary());
    } else if !addr.ip().is_loopback() {
        // Not "listening on": tools wait for that line to learn the address.
        tracing::warn!(
            "NO ACCESS CONTROL: the API on {addr} has no access tokens, so anyone who can \
             reach this port can read and write logs. Configure tokens with --tokens-file or \
             LOGSTREAM_TOKENS (entries SCOPE:TOKEN, scopes ingest, read, admin; see --help)"
        );
    }
    tracing::info!(store = %store.describe(), "listening on http://{addr}");

    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown({
            let mut signals = signals.clone();
            async move {
                let _ = signals.wait_for(|n| *n >= 1).await;
                tracing::info!("shutdown requested");
            }
        })
        .await;

    // Requests in flight have been answered; finish and close the pipeline
    // even if the server failed. A second signal cuts this short.
    tracing::info!("draining the ingest pipeline");
    let drained = async {
        sink.shutdown().await;
        store.close().await
    };
    tokio::select! {
        closed = drained => closed.context("closing the store")?,
        _ = signals.wait_for(|n| *n >= 2) => anyhow::bail!("second signal: stopped without draining"),
    }
    served.context("HTTP server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// How many SIGINTs and SIGTERMs have arrived. Installed before the daemon
/// says it is listening, so that a signal sent right after that line is
/// never met by the default action (instant death, nothing drained).
fn count_stop_signals() -> std::io::Result<tokio::sync::watch::Receiver<u32>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}
